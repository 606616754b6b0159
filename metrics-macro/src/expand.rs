//! The generated code. Everything it names goes through the runtime's `__private` module
//! (`::metrics_runtime::__private`, or the path given with `crate = "…"`), `::core` or
//! `::std`; its locals and labels use mixed-site hygiene, so the user's body cannot see or
//! shadow them. A measured body is written by one function per `Shape`.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Block, Lifetime, ReturnType, Stmt, Type, parse_quote};

use crate::arguments;
use crate::ast::{self, Handler};
use crate::attr::{self, MetricsArgs};
use crate::marker::{self, Marker, Nested};
use crate::plan::{self, AuthTarget, Plan};
use crate::shape::{self, Shape};
use crate::track_caller::LeaveLabelledBlock;

pub fn prometheus_metrics(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(input, attr::METRICS, |handler| {
        plan::metrics_plan(args, handler)
    })
}

pub fn authenticated(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(input, attr::AUTHENTICATED, |handler| {
        plan::authenticated_plan(args, handler)
    })
}

fn expand(
    input: TokenStream,
    name: &str,
    plan: impl FnOnce(Handler) -> syn::Result<Plan>,
) -> TokenStream {
    let handler = match Handler::parse(input.clone(), name) {
        Ok(handler) => handler,
        Err(_) if ast::has_unparsable_body(input.clone()) => return input,
        Err(error) => {
            let error = error.to_compile_error();
            return quote!(#error #input);
        }
    };
    match plan(handler) {
        Ok(plan) => generate(plan),
        Err(error) => {
            // The item as written, with the attributes below this one still on it: they expand
            // as usual, so one mistake gives one error and no unused-import warning.
            let error = error.to_compile_error();
            quote!(#error #input)
        }
    }
}

fn generate(plan: Plan) -> TokenStream {
    let Plan {
        handler,
        auth,
        metrics,
    } = plan;
    let skipped = metrics
        .as_ref()
        .is_some_and(|metrics| metrics.skip.is_some());
    let metrics = metrics.as_ref();
    let instrument = Instrument {
        auth: auth.as_ref(),
        metrics: metrics.filter(|_| !skipped),
        skipped,
        handler: &handler,
        private: attr::private(
            metrics
                .and_then(|metrics| metrics.krate.as_ref())
                .or(auth.as_ref().and_then(|auth| auth.krate.as_ref())),
        ),
    };
    // A check an `#[authenticated]` above wrote, which another attribute moved down the body.
    let nested_check = auth.is_none()
        && instrument.metrics.is_some()
        && Marker::Authenticated
            .find(handler.instrumented_block())
            .is_none();
    if nested_check {
        if let Some(rewritten) = instrument.nested_check_body() {
            let use_attribute = metrics
                .and_then(|metrics| metrics.written_as.as_ref())
                .map(|path| quote!(#[allow(unused_imports)] use #path as _;));
            let Handler {
                attrs, vis, sig, ..
            } = &handler;
            return match rewritten {
                Ok(block) => {
                    let stmts = &block.stmts;
                    quote!(#(#attrs)* #vis #sig { #use_attribute #(#stmts)* })
                }
                Err(error) => {
                    let error = error.to_compile_error();
                    let block = &handler.block;
                    quote!(#error #(#attrs)* #vis #sig #block)
                }
            };
        }
    }
    let mut sig = handler.sig.clone();
    let body = match handler.async_trait_body() {
        Some((call, future)) => {
            // `_` where the output type cannot be read off the signature (a type alias).
            let output = shape::future_output(&handler.sig.output)
                .cloned()
                .unwrap_or_else(|| parse_quote!(_));
            // `#[async_trait]` already moved every argument into its block.
            let inner = instrument.body(&future.block, Shape::Async, Some(&output), None);
            let mut call = call.clone();
            let mut future = future.clone();
            future.block = parse_quote!({ #inner });
            call.args = parse_quote!(#future);
            quote!({ #call })
        }
        None => {
            let output = match &handler.sig.output {
                ReturnType::Default => None,
                ReturnType::Type(_, ty) => Some(&**ty),
            };
            let shape = Shape::of(&handler);
            let taken_in = (instrument.metrics.is_some() && shape != Shape::Never)
                .then(|| arguments::take_in(&mut sig));
            instrument.body(&handler.block, shape, output, taken_in.as_ref())
        }
    };
    let use_attribute = metrics
        .and_then(|metrics| metrics.written_as.as_ref())
        .map(|path| quote!(#[allow(unused_imports)] use #path as _;));
    // A measured fn registers next to its call site, an authenticated one in its check's
    // marker (replaced by the registration of a measuring attribute expanding later).
    let registration = (instrument.metrics.is_none() && auth.is_none())
        .then(|| instrument.registration(None, skipped, false));
    // The metrics of this fn are still to come, maybe under a name not recognised here.
    let above =
        (auth.is_some() && metrics.is_none()).then(|| marker::above_attribute(&instrument.private));
    let Handler { attrs, vis, .. } = &handler;
    // Statements at the top of the fn's block, where an attribute expanding later finds the
    // markers.
    quote!(#(#attrs)* #above #vis #sig { #use_attribute #registration #body })
}

/// The static call site of a measured fn, and how its calls name `Self`.
struct CallSiteItems {
    items: TokenStream,
    name: TokenStream,
    self_type: TokenStream,
}

struct Instrument<'a> {
    auth: Option<&'a AuthTarget>,
    metrics: Option<&'a MetricsArgs>,
    /// `#[prometheus_metrics(skip)]`: listed, deliberately not measured.
    skipped: bool,
    handler: &'a Handler,
    /// The runtime's `__private` module.
    private: TokenStream,
}

/// What every measured shape starts and ends with.
struct Measured {
    /// The call site, the check and the marker: the statements before the guard.
    check: TokenStream,
    /// The expression that starts the call and returns its guard.
    enter: TokenStream,
    /// Records the end of the call with the verdict on `__metrics_output`.
    finish: TokenStream,
}

/// A generated local, invisible to the user's body.
fn local(name: &str) -> Ident {
    format_ident!("{}", name, span = Span::mixed_site())
}

impl Instrument<'_> {
    /// The statements of the new body: authentication, then the guard that records the call,
    /// then the user's body, which starts with `taken_in` (see `arguments::take_in`).
    fn body(
        &self,
        block: &Block,
        shape: Shape,
        output: Option<&Type>,
        taken_in: Option<&TokenStream>,
    ) -> TokenStream {
        let Some(metrics) = self.metrics else {
            let check = self.auth.map(|target| {
                let registration = self.registration(None, self.skipped, true);
                self.authenticate(target, output, None, registration)
            });
            let stmts = &block.stmts;
            return quote!(#check #(#stmts)*);
        };
        // A check that `#[authenticated]`, imported under another name, already wrote above
        // the body stays above the guard.
        let written = marker::split_check(block);
        let measured = self.measured(metrics, &written, shape, output);
        let stmts = written.rest;
        let taken_in = taken_in.cloned().unwrap_or_default();
        match shape {
            Shape::Sync => self.sync_body(&measured, &taken_in, stmts, output),
            Shape::TrackCaller => self.track_caller_body(&measured, &taken_in, stmts, output),
            Shape::Never => never_body(&measured, stmts),
            Shape::Async => self.async_body(&measured, &taken_in, stmts, output),
            Shape::ReturnsFuture { boxed } => {
                self.returns_future_body(&measured, &taken_in, stmts, output, boxed)
            }
        }
    }

    fn measured(
        &self,
        metrics: &MetricsArgs,
        written: &marker::Checked<'_>,
        shape: Shape,
        output: Option<&Type>,
    ) -> Measured {
        let private = &self.private;
        let site = self.call_site(metrics, written.check.is_some());
        let (call_site, self_type) = (&site.name, &site.self_type);
        let count_rejection = quote!(#call_site.reject(#self_type););
        // The check another `#[authenticated]` wrote now counts its rejections; its marker's
        // registration gives way to the call site's.
        let written_check = written
            .check
            .map(|check| marker::count_rejections_in(check, &count_rejection));
        let check = self.auth.map(|target| {
            self.authenticate(target, output, Some(&count_rejection), TokenStream::new())
        });
        let (items, before) = (&site.items, written.before);
        let measured_here = Marker::Measured.statement(private, TokenStream::new());
        // A sync call ends on the thread it started on; an async one may move.
        let enter = match shape {
            Shape::Sync | Shape::TrackCaller | Shape::Never => quote!(enter_sync),
            Shape::Async | Shape::ReturnsFuture { .. } => quote!(enter),
        };
        let classified = match shape {
            Shape::ReturnsFuture { .. } => output.and_then(|ty| shape::returned_future(ty)?.output),
            _ => output,
        };
        let guard = local("__metrics_guard");
        let verdict = self.verdict(metrics, classified);
        Measured {
            // The call site first: the check counts rejections in it.
            check: quote!(#items #(#before)* #written_check #check #measured_here),
            enter: quote!(#call_site.#enter(#self_type)),
            finish: quote_spanned!(Span::mixed_site()=> #guard.finish(#verdict);),
        }
    }

    /// Whether `__metrics_output`, of type `classified`, counts as an error.
    fn verdict(&self, metrics: &MetricsArgs, classified: Option<&Type>) -> TokenStream {
        let private = &self.private;
        let output_value = local("__metrics_output");
        if let Some(error_if) = &metrics.error_if {
            // Spanned on the path: a path that is not a `fn(&Output) -> bool` is reported there.
            return quote_spanned!(error_if.span()=> (#error_if)(&#output_value));
        }
        // A `Result` behind a `Box`, `Rc`, `Arc` or reference is classified as the `Result`.
        let value = if classified.is_some_and(shape::points_to_its_value) {
            quote!(&*#output_value)
        } else {
            quote!(&#output_value)
        };
        let (failed, ok, err) = (
            local("__metrics_failed"),
            local("__metrics_ok"),
            local("__metrics_err"),
        );
        quote! {{
            #[allow(unused_imports)]
            use #private::{
                AnyOutcome as _, DefaultVerdict as _, OwnVerdict as _, ResultOutcome as _,
                WholeOutcome as _,
            };
            match (&&&#private::Classify(#value)).split() {
                #private::Split::Decided(#failed) => #failed,
                #private::Split::Ok(#ok) => (&&#private::Judge(#ok)).counts_as_error_or(false),
                #private::Split::Err(#err) => (&&#private::Judge(#err)).counts_as_error_or(true),
            }
        }}
    }

    /// A sync body runs in a `move` closure: its `return` and `?` end the closure.
    fn sync_body(
        &self,
        measured: &Measured,
        taken_in: &TokenStream,
        stmts: &[Stmt],
        output: Option<&Type>,
    ) -> TokenStream {
        let private = &self.private;
        // `()` named too: a body that never returns (`todo!()`) would make the closure's
        // output `!` and the verdict's probes would have no type to work on.
        let annotation = match output.map(shape::nameable) {
            Some(Type::Infer(_)) => None,
            Some(ty) => Some(quote!(-> #ty)),
            None => Some(quote!(-> ())),
        };
        let run = quote!(#private::call_once(move || #annotation { #taken_in #(#stmts)* }));
        finished_inline(measured, run)
    }

    /// A `#[track_caller]` body runs inline, its `return` and `?` leaving a labelled block.
    fn track_caller_body(
        &self,
        measured: &Measured,
        taken_in: &TokenStream,
        stmts: &[Stmt],
        output: Option<&Type>,
    ) -> TokenStream {
        let label = Lifetime {
            apostrophe: Span::mixed_site(),
            ident: local("__metrics_body"),
        };
        let mut stmts = stmts.to_vec();
        let mut rewrite = LeaveLabelledBlock {
            label: &label,
            private: &self.private,
        };
        for stmt in &mut stmts {
            rewrite.visit_stmt_mut(stmt);
        }
        let ty = output.map_or_else(|| parse_quote!(()), shape::nameable);
        let output_value = local("__metrics_output");
        let run =
            quote!({ let #output_value: #ty = #label: { #taken_in #(#stmts)* }; #output_value });
        finished_inline(measured, run)
    }

    /// An `async fn` body is timed inside the future, from its first poll.
    fn async_body(
        &self,
        measured: &Measured,
        taken_in: &TokenStream,
        stmts: &[Stmt],
        output: Option<&Type>,
    ) -> TokenStream {
        let private = &self.private;
        let Measured {
            check,
            enter,
            finish,
        } = measured;
        let output = output.map_or_else(|| parse_quote!(()), shape::nameable);
        let (guard, output_value) = (local("__metrics_guard"), local("__metrics_output"));
        quote_spanned! {Span::mixed_site()=>
            #check
            let #guard = #enter;
            let (#output_value, #guard) =
                #private::Instrumented::new::<#output>(
                    #guard,
                    async move { #taken_in #(#stmts)* },
                )
                    .await;
            #finish
            #output_value
        }
    }

    /// A sync fn returning a future is timed from the call until the future completes.
    fn returns_future_body(
        &self,
        measured: &Measured,
        taken_in: &TokenStream,
        stmts: &[Stmt],
        output: Option<&Type>,
        boxed: bool,
    ) -> TokenStream {
        let private = &self.private;
        let Measured {
            check,
            enter,
            finish,
        } = measured;
        let annotation = output.map(|ty| {
            let ty = shape::nameable(ty);
            quote!(-> #ty)
        });
        // The future's output type, where the signature names it: the verdict's probes need it
        // before the compiler would infer it.
        let future_output = output
            .and_then(|ty| shape::returned_future(ty)?.output)
            .map_or_else(|| parse_quote!(_), shape::nameable);
        let wrapper = boxed.then(|| quote!(::std::boxed::Box::pin));
        let (guard, output_value, future) = (
            local("__metrics_guard"),
            local("__metrics_output"),
            local("__metrics_future"),
        );
        quote_spanned! {Span::mixed_site()=>
            #check
            let #guard = #enter;
            let #future = #private::call_once(move || #annotation { #taken_in #(#stmts)* });
            let #guard = #guard.held_by_future();
            #wrapper(async move {
                let (#output_value, #guard) =
                    #private::Instrumented::new::<#future_output>(#guard, #future).await;
                #finish
                #output_value
            })
        }
    }

    /// The fn's body, measured from after a check that an attribute between the two moved
    /// down it; `None` where there is no such check and nothing says one should be there.
    fn nested_check_body(&self) -> Option<syn::Result<Block>> {
        let handler = self.handler;
        let sign = handler.authenticated_above.as_ref();
        let refuse = |reason: &str| {
            let message = format!(
                "`#[authenticated]` above cannot be kept first: {reason}, so rejected calls \
                 would be counted as requests\n\
                 help: write `#[authenticated]` directly above `#[prometheus_metrics]`, and the \
                 other attribute above or below both"
            );
            match sign {
                Some(sign) => syn::Error::new_spanned(sign, message),
                None => syn::Error::new(Span::call_site(), message),
            }
        };
        // The output of the body that ends with the check: the fn's, or its future's.
        let returns_future = handler.async_trait_body().is_some()
            || matches!(Shape::of(handler), Shape::ReturnsFuture { .. });
        let supported = returns_future || matches!(Shape::of(handler), Shape::Sync | Shape::Async);
        let output = match &handler.sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) if returns_future => Some(
                shape::returned_future(ty)
                    .and_then(|future| future.output)
                    .cloned()
                    .unwrap_or_else(|| parse_quote!(_)),
            ),
            ReturnType::Type(_, ty) => Some((**ty).clone()),
        };
        let mut block = (*handler.block).clone();
        let mut timed_outside_the_future = false;
        let found = marker::rewrite_nested_check(&mut block, |inner, in_async| {
            timed_outside_the_future = returns_future && !in_async;
            if !supported || timed_outside_the_future {
                return;
            }
            let shape = if in_async { Shape::Async } else { Shape::Sync };
            let stmts = self.body(inner, shape, output.as_ref(), None);
            *inner = parse_quote!({ #stmts });
        });
        if found == Nested::Rewritten && !supported {
            return Some(Err(refuse(
                "an attribute between them rewrote a body of this shape",
            )));
        }
        if timed_outside_the_future {
            return Some(Err(refuse(
                "an attribute between them moved its check out of the returned future",
            )));
        }
        match found {
            Nested::Rewritten => Some(Ok(block)),
            Nested::NotAtTheEnd => Some(Err(refuse(
                "an attribute between them moved its check where the body does not end",
            ))),
            Nested::Absent => sign.map(|_| {
                Err(refuse(
                    "an attribute between them hid the body inside its own code",
                ))
            }),
        }
    }

    /// A static call site made for this fn, where its labels are resolved once.
    fn call_site(&self, metrics: &MetricsArgs, checked_above: bool) -> CallSiteItems {
        let sig = &self.handler.sig;
        let private = &self.private;
        let (constructor, label, self_type) = match (&metrics.handler, sig.receiver()) {
            (Some(label), _) => (quote!(new), label.value(), quote!(#private::no_self_type)),
            (None, Some(_)) => (
                quote!(method),
                sig.ident.unraw().to_string(),
                quote!(::core::any::type_name::<Self>),
            ),
            (None, None) => (
                quote!(new),
                sig.ident.unraw().to_string(),
                quote!(#private::no_self_type),
            ),
        };
        let name = quote!(__HANDLER_METRICS_CALL_SITE);
        let authenticated = self.auth.is_some() || checked_above;
        let registration = self.registration(Some(&name), false, authenticated);
        CallSiteItems {
            items: quote! {
                static #name: #private::CallSite =
                    #private::CallSite::#constructor(#label, ::core::module_path!());
                #registration
            },
            name,
            self_type,
        }
    }

    /// Lists the fn in `metrics_runtime::handlers()` before `main` runs.
    fn registration(
        &self,
        call_site: Option<&TokenStream>,
        skipped: bool,
        authenticated: bool,
    ) -> TokenStream {
        let private = &self.private;
        let ident = &self.handler.sig.ident;
        let name = ident.unraw().to_string();
        let site = match call_site {
            Some(site) => quote!(::core::option::Option::Some(&#site)),
            None => quote!(::core::option::Option::None),
        };
        let location = quote_spanned!(ident.span()=> ::core::file!(), ::core::line!());
        // Typed once, then a const assertion: a bad objective fails the build with one error,
        // at its path.
        let objective = self.metrics.and_then(|metrics| metrics.objective.as_ref());
        let (check, serves) = objective.map_or_else(Default::default, |path| {
            let private = respan(private.clone(), path.span());
            let objective = quote!(__HANDLER_METRICS_OBJECTIVE);
            (
                quote_spanned! {path.span()=>
                    const #objective: &#private::Objective = &#path;
                    const _: () = #private::check_objective(#objective);
                },
                quote!(.objective(#objective)),
            )
        });
        quote! {
            #check
            #private::inventory::submit! {
                #private::Registration::new(
                    #site, #name, ::core::module_path!(), #location, #authenticated, #skipped,
                )#serves
            }
        }
    }

    /// Returns early with the rejection when the target does not authenticate; the marker
    /// before it tells an attribute expanding later where the check ends.
    /// `count_rejection` counts the rejected call of a measured handler; `registration` lists
    /// a fn nothing measures yet.
    fn authenticate(
        &self,
        target: &AuthTarget,
        output: Option<&Type>,
        count_rejection: Option<&TokenStream>,
        registration: TokenStream,
    ) -> TokenStream {
        let value = &target.value;
        let value_span = value
            .clone()
            .into_iter()
            .next()
            .map_or_else(Span::call_site, |t| t.span());
        let rejection = format_ident!("__metrics_rejection", span = Span::mixed_site());
        let private = &self.private;
        let output = output.filter(|ty| !matches!(ty, Type::Infer(_)));
        let reject = match output {
            // A nameable output type decides by its type, so `Result` aliases work too.
            Some(ty) if shape::without_impl_trait(ty).is_none() => quote! {{
                #[allow(unused_imports)]
                use #private::{RejectInto as _, RejectIntoResult as _};
                (&#private::Reject::<#ty, _>::new(#rejection)).reject()
            }},
            None => quote!(::core::convert::Into::into(#rejection)),
            Some(ty) if shape::is_result(ty) => {
                quote!(::core::result::Result::Err(::core::convert::Into::into(#rejection)))
            }
            Some(_) => quote!(::core::convert::Into::into(#rejection)),
        };
        // Spanned on the parameter: a type that cannot be checked is reported there, once.
        let authenticate = respan(quote!(#private::Authenticate::authenticate), value_span);
        let check = quote_spanned!(value_span=> #authenticate(&#value));
        marker::write_check(
            private,
            registration,
            check,
            &rejection,
            count_rejection,
            reject,
        )
    }
}

/// The statements of a body that runs on the caller's stack: `run` gives the output.
fn finished_inline(measured: &Measured, run: TokenStream) -> TokenStream {
    let Measured {
        check,
        enter,
        finish,
    } = measured;
    let (guard, output_value) = (local("__metrics_guard"), local("__metrics_output"));
    quote_spanned! {Span::mixed_site()=>
        #check
        let #guard = #enter;
        let #output_value = #run;
        #finish
        #output_value
    }
}

/// `-> !`: the body runs inline and never returns, so only a panic (an error) ends it.
fn never_body(measured: &Measured, stmts: &[Stmt]) -> TokenStream {
    let Measured { check, enter, .. } = measured;
    let guard = local("__metrics_guard");
    quote_spanned! {Span::mixed_site()=>
        #check
        let #guard = #enter;
        #(#stmts)*
    }
}

fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut respanned =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                respanned.set_span(span);
                token = respanned.into();
            }
            token.set_span(span);
            token
        })
        .collect()
}
