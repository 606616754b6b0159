//! The generated code. Everything it names goes through the runtime's `__private` module
//! (`::metrics_runtime::__private`, or the path given with `crate = "…"`), `::core` or
//! `::std`; its locals and labels use mixed-site hygiene, so the user's body cannot see or
//! shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{
    Block, Expr, GenericArgument, Lifetime, PathArguments, ReturnType, Stmt, Type, TypeParamBound,
    parse_quote,
};

use crate::ast::Handler;
use crate::attr::{self, MetricsArgs};
use crate::marker::{self, Marker, Nested};
use crate::valid::{self, AuthTarget, Plan};

pub fn prometheus_metrics(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(input, attr::METRICS, |handler| {
        valid::metrics_plan(args, handler)
    })
}

pub fn authenticated(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(input, attr::AUTHENTICATED, |handler| {
        valid::authenticated_plan(args, handler)
    })
}

fn expand(
    input: TokenStream,
    name: &str,
    plan: impl FnOnce(Handler) -> syn::Result<Plan>,
) -> TokenStream {
    let handler = match Handler::parse(input.clone(), name) {
        Ok(handler) => handler,
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
    let body = match handler.async_trait_body() {
        Some((call, future)) => {
            // `_` where the output type cannot be read off the signature (a type alias).
            let output = future_output(&handler.sig.output)
                .cloned()
                .unwrap_or_else(|| parse_quote!(_));
            let inner = instrument.body(&future.block, Shape::Async, Some(&output));
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
            instrument.body(&handler.block, Shape::of(&handler), output)
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
    let Handler {
        attrs, vis, sig, ..
    } = &handler;
    // Statements at the top of the fn's block, where an attribute expanding later finds the
    // markers.
    quote!(#(#attrs)* #above #vis #sig { #use_attribute #registration #body })
}

/// How the body runs, which decides how its end is seen.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// In a closure: `return` and `?` end the closure, and its value is the output.
    Sync,
    /// Inline, with `return` and `?` rewritten to leave a labelled block: a closure would
    /// report its own location to `#[track_caller]` code instead of the caller's.
    TrackCaller,
    /// Inline: `-> !` never returns, so a panic (or nothing) ends it.
    Never,
    /// An `async fn` or `#[async_trait]` body: timed inside the future.
    Async,
    /// A sync fn returning a future: timed from the call until the future completes.
    ReturnsFuture { boxed: bool },
}

impl Shape {
    fn of(handler: &Handler) -> Shape {
        let sig = &handler.sig;
        if sig.asyncness.is_some() {
            return Shape::Async;
        }
        let output = match &sig.output {
            ReturnType::Type(_, ty) => Some(&**ty),
            ReturnType::Default => None,
        };
        if let Some(Type::Never(_)) = output {
            return Shape::Never;
        }
        if let Some(boxed) = output.and_then(future_type) {
            return Shape::ReturnsFuture { boxed };
        }
        let track_caller = handler
            .attrs
            .iter()
            .any(|attr| attr.path().is_ident("track_caller"));
        if track_caller {
            Shape::TrackCaller
        } else {
            Shape::Sync
        }
    }
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

impl Instrument<'_> {
    /// The statements of the new body: authentication, then the guard that records the call,
    /// then the user's body.
    fn body(&self, block: &Block, shape: Shape, output: Option<&Type>) -> TokenStream {
        // A check that `#[authenticated]`, imported under another name, already wrote above
        // the body stays above the guard.
        let written = marker::split_check(block);
        let stmts = written.rest;
        let Some(metrics) = self.metrics else {
            let check = self.auth.map(|target| {
                let registration = self.registration(None, self.skipped, true);
                self.authenticate(target, output, None, registration)
            });
            let block_stmts = &block.stmts;
            return quote!(#check #(#block_stmts)*);
        };
        let private = &self.private;
        let before = written.before;
        let site = self.call_site(metrics, written.check.is_some());
        let (call_site, self_type) = (&site.name, &site.self_type);
        let count_rejection = quote!(#call_site.reject(#self_type););
        // The check another `#[authenticated]` wrote, which now counts its rejections; its
        // marker's registration gives way to the call site's.
        let written_check = written.check.cloned().map(|mut check| {
            if let Stmt::Expr(Expr::If(check), _) = &mut check {
                let count: Stmt = parse_quote!(#count_rejection);
                check.then_branch.stmts.insert(0, count);
            }
            check
        });
        let check = self.auth.map(|target| {
            self.authenticate(target, output, Some(&count_rejection), TokenStream::new())
        });
        let items = &site.items;
        let measured = Marker::Measured.statement(private, TokenStream::new());
        // The call site first: the check counts rejections in it.
        let check = quote!(#items #(#before)* #written_check #check #measured);
        let guard = format_ident!("__metrics_guard", span = Span::mixed_site());
        let output_value = format_ident!("__metrics_output", span = Span::mixed_site());
        let future = format_ident!("__metrics_future", span = Span::mixed_site());
        // A sync call ends on the thread it started on; an async one may move.
        let enter = match shape {
            Shape::Sync | Shape::TrackCaller | Shape::Never => quote!(enter_sync),
            Shape::Async | Shape::ReturnsFuture { .. } => quote!(enter),
        };
        let enter = quote!(#call_site.#enter(#self_type));
        // A `Result` behind a `Box`, `Rc`, `Arc` or reference is classified as the `Result`.
        let classified_type = match shape {
            Shape::ReturnsFuture { .. } => output.and_then(future_output_of),
            _ => output,
        };
        let classified = if classified_type.is_some_and(points_to_its_value) {
            quote!(&*#output_value)
        } else {
            quote!(&#output_value)
        };
        let verdict = match &metrics.error_if {
            // Spanned on the path: a path that is not a `fn(&Output) -> bool` is reported there.
            Some(error_if) => quote_spanned!(error_if.span()=> (#error_if)(&#output_value)),
            None => {
                let (ok, err) = (
                    format_ident!("__metrics_ok", span = Span::mixed_site()),
                    format_ident!("__metrics_err", span = Span::mixed_site()),
                );
                quote! {{
                    #[allow(unused_imports)]
                    use #private::{
                        AnyOutcome as _, DefaultVerdict as _, OwnVerdict as _, ResultOutcome as _,
                        WholeOutcome as _,
                    };
                    (&&&#private::Classify(#classified)).failed(
                        |#ok| (&&#private::Judge(#ok)).counts_as_error_or(false),
                        |#err| (&&#private::Judge(#err)).counts_as_error_or(true),
                    )
                }}
            }
        };
        let finish = quote_spanned! {Span::mixed_site()=>
            #guard.finish(#verdict);
        };
        let nameable = output.map(|ty| without_impl_trait(ty).unwrap_or_else(|| ty.clone()));
        let run = match shape {
            Shape::Never => {
                return quote_spanned! {Span::mixed_site()=>
                    #check
                    let #guard = #enter;
                    #(#stmts)*
                };
            }
            Shape::Sync => {
                // `()` named too: a body that never returns (`todo!()`) would make the closure's
                // output `!` and the verdict's probes would have no type to work on.
                let annotation = match nameable {
                    Some(Type::Infer(_)) => None,
                    Some(ty) => Some(quote!(-> #ty)),
                    None => Some(quote!(-> ())),
                };
                quote!(#private::call_once(move || #annotation { #(#stmts)* }))
            }
            Shape::TrackCaller => {
                let label = Lifetime {
                    apostrophe: Span::mixed_site(),
                    ident: format_ident!("__metrics_body", span = Span::mixed_site()),
                };
                let mut stmts = stmts.to_vec();
                let mut rewrite = LeaveLabelledBlock {
                    label: &label,
                    private,
                };
                for stmt in &mut stmts {
                    rewrite.visit_stmt_mut(stmt);
                }
                let ty = nameable.unwrap_or_else(|| parse_quote!(()));
                quote!({ let #output_value: #ty = #label: { #(#stmts)* }; #output_value })
            }
            Shape::Async => {
                let output = nameable.unwrap_or_else(|| parse_quote!(()));
                return quote_spanned! {Span::mixed_site()=>
                    #check
                    let #guard = #enter;
                    let (#output_value, #guard) =
                        #private::Instrumented::new::<#output>(#guard, async move { #(#stmts)* })
                            .await;
                    #finish
                    #output_value
                };
            }
            Shape::ReturnsFuture { boxed } => {
                let annotation = nameable.map(|ty| quote!(-> #ty));
                // The future's output type, where the signature names it: the verdict's probes
                // need it before the compiler would infer it.
                let future_output = output
                    .and_then(future_output_of)
                    .map(|ty| without_impl_trait(ty).unwrap_or_else(|| ty.clone()))
                    .unwrap_or_else(|| parse_quote!(_));
                let wrapper = boxed.then(|| quote!(::std::boxed::Box::pin));
                return quote_spanned! {Span::mixed_site()=>
                    #check
                    let #guard = #enter;
                    let #future = #private::call_once(move || #annotation { #(#stmts)* });
                    let #guard = #guard.held_by_future();
                    #wrapper(async move {
                        let (#output_value, #guard) =
                            #private::Instrumented::new::<#future_output>(#guard, #future).await;
                        #finish
                        #output_value
                    })
                };
            }
        };
        quote_spanned! {Span::mixed_site()=>
            #check
            let #guard = #enter;
            let #output_value = #run;
            #finish
            #output_value
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
                future_output_of(ty)
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
            let stmts = self.body(inner, shape, output.as_ref());
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
            Some(ty) if without_impl_trait(ty).is_none() => quote! {{
                #[allow(unused_imports)]
                use #private::{RejectInto as _, RejectIntoResult as _};
                (&#private::Reject::<#ty, _>::new(#rejection)).reject()
            }},
            None => quote!(::core::convert::Into::into(#rejection)),
            Some(ty) if is_result(ty) => {
                quote!(::core::result::Result::Err(::core::convert::Into::into(#rejection)))
            }
            Some(_) => quote!(::core::convert::Into::into(#rejection)),
        };
        // Spanned on the parameter: a type that cannot be checked is reported there, once.
        let authenticate = respan(quote!(#private::Authenticate::authenticate), value_span);
        let check = quote_spanned!(value_span=> #authenticate(&#value));
        let marker = Marker::Authenticated.statement(private, registration);
        quote! {
            #marker
            if let ::core::result::Result::Err(#rejection) = #check {
                #count_rejection
                return #reject;
            }
        }
    }
}

/// Rewrites `return e` into `break 'label e` and `e?` into a `match` that breaks out with the
/// residual, leaving closures, async blocks and nested items, whose `return` and `?` are
/// their own, as they are.
struct LeaveLabelledBlock<'a> {
    label: &'a Lifetime,
    private: &'a TokenStream,
}

impl VisitMut for LeaveLabelledBlock<'_> {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
            Expr::Return(returned) => {
                if let Some(value) = &mut returned.expr {
                    self.visit_expr_mut(value);
                }
                let label = self.label;
                let value = returned
                    .expr
                    .as_ref()
                    .map_or_else(|| quote!(()), ToTokens::to_token_stream);
                // Parenthesised: `break 'label ::path` would read as a labelled block.
                *expr = parse_quote!(break #label (#value));
            }
            Expr::Try(tried) => {
                self.visit_expr_mut(&mut tried.expr);
                let (label, private) = (self.label, self.private);
                let value = &tried.expr;
                let continued = format_ident!("__metrics_value", span = Span::mixed_site());
                let residual = format_ident!("__metrics_residual", span = Span::mixed_site());
                *expr = parse_quote! {
                    match #private::Branch::branch(#value) {
                        ::core::ops::ControlFlow::Continue(#continued) => #continued,
                        ::core::ops::ControlFlow::Break(#residual) => {
                            break #label (#private::FromResidual::from_residual(#residual))
                        }
                    }
                };
            }
            _ => syn::visit_mut::visit_expr_mut(self, expr),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
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

/// `&T`, `Box<T>`, `Rc<T>`, `Arc<T>`: a pointer whose value is what the handler answers.
fn points_to_its_value(ty: &Type) -> bool {
    match ty {
        Type::Reference(_) => true,
        Type::Path(path) => {
            path.qself.is_none()
                && path.path.segments.last().is_some_and(|last| {
                    (last.ident == "Box" || last.ident == "Rc" || last.ident == "Arc")
                        && matches!(last.arguments, PathArguments::AngleBracketed(_))
                })
        }
        Type::Group(group) => points_to_its_value(&group.elem),
        Type::Paren(paren) => points_to_its_value(&paren.elem),
        _ => false,
    }
}

/// Any path ending in `Result`: `Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|last| last.ident == "Result"),
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}

/// Whether a sync fn's return type is a future: `impl Future<…>` (`Some(false)`), or a boxed
/// one, `Pin<Box<dyn Future<…>>>`, `BoxFuture<…>` or `LocalBoxFuture<…>` (`Some(true)`).
pub(crate) fn future_type(ty: &Type) -> Option<bool> {
    match ty {
        Type::ImplTrait(bounds) => bounds.bounds.iter().any(is_future_bound).then_some(false),
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                return Some(true);
            }
            let boxed = single_type_argument(single_type_argument(ty, "Pin")?, "Box")?;
            let Type::TraitObject(object) = boxed else {
                return None;
            };
            object.bounds.iter().any(is_future_bound).then_some(true)
        }
        Type::Group(group) => future_type(&group.elem),
        Type::Paren(paren) => future_type(&paren.elem),
        _ => None,
    }
}

fn is_future_bound(bound: &TypeParamBound) -> bool {
    matches!(bound, TypeParamBound::Trait(bound)
        if bound.path.segments.last().is_some_and(|last| last.ident == "Future"))
}

/// `R` in the `Pin<Box<dyn Future<Output = R> + Send + 'a>>` that `#[async_trait]` returns.
fn future_output(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    future_output_of(ty)
}

/// `R` in `impl Future<Output = R>`, `Pin<Box<dyn Future<Output = R>>>` or `BoxFuture<'a, R>`.
pub(crate) fn future_output_of(ty: &Type) -> Option<&Type> {
    let bounds = match ty {
        Type::ImplTrait(bounds) => &bounds.bounds,
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                let PathArguments::AngleBracketed(args) = &last.arguments else {
                    return None;
                };
                return args.args.iter().find_map(|arg| match arg {
                    GenericArgument::Type(output) => Some(output),
                    _ => None,
                });
            }
            let pinned = single_type_argument(ty, "Pin")?;
            let Type::TraitObject(object) = single_type_argument(pinned, "Box")? else {
                return None;
            };
            &object.bounds
        }
        Type::Group(group) => return future_output_of(&group.elem),
        Type::Paren(paren) => return future_output_of(&paren.elem),
        _ => return None,
    };
    bounds.iter().find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

fn single_type_argument<'a>(ty: &'a Type, name: &str) -> Option<&'a Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(inner) => Some(inner),
        _ => None,
    }
}

/// A closure cannot name an `impl Trait` type; `_` lets the compiler infer that part.
/// Returns `None` when there was none to replace.
fn without_impl_trait(ty: &Type) -> Option<Type> {
    struct ReplaceImplTrait {
        replaced: bool,
    }
    impl VisitMut for ReplaceImplTrait {
        fn visit_type_mut(&mut self, ty: &mut Type) {
            if let Type::ImplTrait(_) = ty {
                *ty = parse_quote!(_);
                self.replaced = true;
            } else {
                syn::visit_mut::visit_type_mut(self, ty);
            }
        }
    }
    let mut ty = ty.clone();
    let mut visitor = ReplaceImplTrait { replaced: false };
    visitor.visit_type_mut(&mut ty);
    visitor.replaced.then_some(ty)
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};
    use syn::visit_mut::VisitMut;
    use syn::{Type, parse_quote};

    use super::{LeaveLabelledBlock, future_output_of, future_type, without_impl_trait};

    #[test]
    fn future_returning_signatures_are_recognised() {
        let cases: [(Type, Option<bool>); 7] = [
            (parse_quote!(impl Future<Output = u8>), Some(false)),
            (
                parse_quote!(impl Future<Output = u8> + Send + 'a),
                Some(false),
            ),
            (
                parse_quote!(Pin<Box<dyn Future<Output = u8> + Send>>),
                Some(true),
            ),
            (parse_quote!(futures::future::BoxFuture<'a, u8>), Some(true)),
            (parse_quote!(LocalBoxFuture<'static, u8>), Some(true)),
            (parse_quote!(Pin<Box<dyn Iterator<Item = u8>>>), None),
            (parse_quote!(impl Iterator<Item = u8>), None),
        ];
        for (ty, expected) in cases {
            assert_eq!(future_type(&ty), expected, "{}", ty.to_token_stream());
            let output = future_output_of(&ty).map(|ty| ty.to_token_stream().to_string());
            let named = expected.map(|_| "u8".to_owned());
            assert_eq!(output, named, "{}", ty.to_token_stream());
        }
    }

    #[test]
    fn impl_trait_becomes_inferred() {
        let ty: Type = parse_quote!(Result<impl Display, String>);
        let replaced = without_impl_trait(&ty).unwrap();
        assert_eq!(
            replaced.to_token_stream().to_string(),
            quote!(Result<_, String>).to_string()
        );
        assert!(without_impl_trait(&parse_quote!(Vec<u8>)).is_none());
    }

    #[test]
    fn return_and_question_marks_leave_the_labelled_block_but_not_closures() {
        let label: syn::Lifetime = parse_quote!('body);
        let private = quote!(p);
        let mut block: syn::Block = parse_quote!({
            if a {
                return Err(e);
            }
            let x = parse(s)?;
            let f = || -> Option<u8> { Some(g()?) };
            let h = async {
                return 1;
            };
            fn inner() -> u8 {
                return 2;
            }
            Ok(x)
        });
        let mut rewrite = LeaveLabelledBlock {
            label: &label,
            private: &private,
        };
        rewrite.visit_block_mut(&mut block);
        let text = block.to_token_stream().to_string();
        assert!(text.contains("break 'body (Err (e))"), "{text}");
        assert!(text.contains("p :: Branch :: branch (parse (s))"), "{text}");
        assert!(
            text.contains("Some (g () ?)"),
            "the closure's ? is its own: {text}"
        );
        assert!(
            text.contains("return 1"),
            "the async block's return is its own: {text}"
        );
        assert!(
            text.contains("return 2"),
            "the nested fn's return is its own: {text}"
        );
    }
}
