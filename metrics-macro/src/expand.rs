//! The generated code. Everything it names goes through `::metrics_runtime::__private` or
//! `::core`; its locals use mixed-site hygiene, so the user's body cannot see or shadow them.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::visit_mut::VisitMut;
use syn::{Block, GenericArgument, PathArguments, ReturnType, Type, TypeParamBound, parse_quote};

use crate::ast::Handler;
use crate::attr::{self, MetricsArgs};
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
    let instrument = Instrument {
        auth: auth.as_ref(),
        metrics: metrics.as_ref().filter(|_| !skipped),
        handler: &handler,
    };
    let body = match handler.async_trait_body() {
        Some((call, future)) => {
            let output = future_output(&handler.sig.output);
            let inner = instrument.body(&future.block, Kind::Async, output);
            let mut call = call.clone();
            let mut future = future.clone();
            future.block = parse_quote!(#inner);
            call.args = parse_quote!(#future);
            quote!({ #call })
        }
        None => {
            let output = match &handler.sig.output {
                ReturnType::Default => None,
                ReturnType::Type(_, ty) => Some(&**ty),
            };
            let kind = if handler.sig.asyncness.is_some() {
                Kind::Async
            } else {
                Kind::Sync
            };
            instrument.body(&handler.block, kind, output)
        }
    };
    let use_attribute = metrics
        .as_ref()
        .and_then(|metrics| metrics.written_as.as_ref())
        .map(|path| quote!(#[allow(unused_imports)] use #path as _;));
    // An instrumented fn registers next to its call site (see `enter`).
    let registration = instrument
        .metrics
        .is_none()
        .then(|| instrument.registration(None, skipped));
    let Handler {
        attrs, vis, sig, ..
    } = &handler;
    quote!(#(#attrs)* #vis #sig { #use_attribute #registration #body })
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Sync,
    Async,
}

struct Instrument<'a> {
    auth: Option<&'a AuthTarget>,
    metrics: Option<&'a MetricsArgs>,
    handler: &'a Handler,
}

impl Instrument<'_> {
    /// The new body: authentication, then the guard that records the call, then the user's body.
    fn body(&self, block: &Block, kind: Kind, output: Option<&Type>) -> TokenStream {
        let check = self.auth.map(|target| authenticate(target, output));
        let Some(metrics) = self.metrics else {
            let stmts = &block.stmts;
            return quote!({ #check #(#stmts)* });
        };
        let guard = format_ident!("__metrics_guard", span = Span::mixed_site());
        let output_value = format_ident!("__metrics_output", span = Span::mixed_site());
        let enter = self.enter(metrics, kind);
        let run = match kind {
            Kind::Sync => {
                let annotation = output
                    .map(|ty| without_impl_trait(ty).unwrap_or_else(|| ty.clone()))
                    .filter(|ty| !matches!(ty, Type::Infer(_)))
                    .map(|ty| quote!(-> #ty));
                quote!(::metrics_runtime::__private::call_once(move || #annotation #block))
            }
            Kind::Async => quote!(async move #block .await),
        };
        let let_annotation = match kind {
            Kind::Async => output
                .filter(|ty| without_impl_trait(ty).is_none())
                .map(|ty| quote!(: #ty)),
            Kind::Sync => None,
        };
        quote_spanned! {Span::mixed_site()=> {
            #check
            let #guard = #enter;
            let #output_value #let_annotation = #run;
            #guard.finish({
                #[allow(unused_imports)]
                use ::metrics_runtime::__private::{AnyOutcome as _, ResultOutcome as _};
                (&::metrics_runtime::__private::Outcome(&#output_value)).failed()
            });
            #output_value
        }}
    }

    /// `CallSite::enter` on a static made for this fn: labels are resolved once per call site.
    fn enter(&self, metrics: &MetricsArgs, kind: Kind) -> TokenStream {
        let sig = &self.handler.sig;
        let private = quote!(::metrics_runtime::__private);
        let (constructor, label, self_type) = match (&metrics.handler, sig.receiver()) {
            (Some(label), _) => (quote!(new), label.value(), quote!(#private::no_self_type)),
            (None, Some(_)) => (
                quote!(method),
                sig.ident.to_string(),
                quote!(::core::any::type_name::<Self>),
            ),
            (None, None) => (
                quote!(new),
                sig.ident.to_string(),
                quote!(#private::no_self_type),
            ),
        };
        let label = label.trim_start_matches("r#");
        let call_site = quote!(CALL_SITE);
        // A sync call ends on the thread it started on; an async one may move.
        let enter = match kind {
            Kind::Sync => quote!(enter_sync),
            Kind::Async => quote!(enter),
        };
        let registration = self.registration(Some(&call_site), false);
        quote! {{
            static #call_site: #private::CallSite =
                #private::CallSite::#constructor(#label, ::core::module_path!());
            #registration
            #call_site.#enter(#self_type)
        }}
    }

    /// Lists the fn in `metrics_runtime::handlers()` before `main` runs.
    fn registration(&self, call_site: Option<&TokenStream>, skipped: bool) -> TokenStream {
        let private = quote!(::metrics_runtime::__private);
        let ident = &self.handler.sig.ident;
        let name = ident.to_string();
        let name = name.trim_start_matches("r#");
        let site = match call_site {
            Some(site) => quote!(::core::option::Option::Some(&#site)),
            None => quote!(::core::option::Option::None),
        };
        let authenticated = self.auth.is_some();
        let location = quote_spanned!(ident.span()=> ::core::file!(), ::core::line!());
        quote! {
            #private::inventory::submit! {
                #private::Registration::new(
                    #site, #name, ::core::module_path!(), #location, #authenticated, #skipped,
                )
            }
        }
    }
}

/// Returns early with the rejection when the target does not authenticate.
fn authenticate(target: &AuthTarget, output: Option<&Type>) -> TokenStream {
    let value = &target.value;
    let value_span = value
        .clone()
        .into_iter()
        .next()
        .map_or_else(Span::call_site, |t| t.span());
    let rejection = format_ident!("__metrics_rejection", span = Span::mixed_site());
    let private = quote!(::metrics_runtime::__private);
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
    // Spanned on the parameter: a type that cannot be checked is reported there.
    let check = quote_spanned!(value_span=> ::metrics_runtime::Authenticate::authenticate(&#value));
    quote! {
        if let ::core::result::Result::Err(#rejection) = #check {
            return #reject;
        }
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

/// `R` in the `Pin<Box<dyn Future<Output = R> + Send + 'a>>` that `#[async_trait]` returns.
fn future_output(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let pinned = single_type_argument(ty, "Pin")?;
    let boxed = single_type_argument(pinned, "Box")?;
    let Type::TraitObject(object) = boxed else {
        return None;
    };
    object.bounds.iter().find_map(|bound| {
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
