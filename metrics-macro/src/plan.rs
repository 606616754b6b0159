//! The plan of one expansion (`Plan`: the fn, what to authenticate, how to measure it), built
//! from the checks that need the whole fn: where the attributes are, which parameter to
//! authenticate, whether the output can be classified.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::visit::Visit;
use syn::{FnArg, Ident, Pat, ReturnType, Signature};

use crate::ast::Handler;
use crate::attr::{self, AUTHENTICATED, AuthArgs, METRICS, MetricsArgs};
use crate::marker::Marker;
use crate::shape;

/// What to generate for one fn.
pub struct Plan {
    pub handler: Handler,
    pub auth: Option<AuthTarget>,
    pub metrics: Option<MetricsArgs>,
}

/// The value `#[authenticated]` checks: `self` or a parameter binding, with its own span.
pub struct AuthTarget {
    pub value: TokenStream,
    pub krate: Option<syn::Path>,
}

const ORDER: &str = "`#[authenticated]` must be written above `#[prometheus_metrics]`: \
    attributes run top-down, and in this order calls that authentication rejects would be \
    counted and timed\n\
    help: write `#[authenticated]` first, then `#[prometheus_metrics]`";

pub fn metrics_plan(args: TokenStream, handler: Handler) -> syn::Result<Plan> {
    reject_const(&handler.sig, METRICS)?;
    if let Some(below) = handler.ours.first() {
        if attr::is(below, AUTHENTICATED) {
            return Err(syn::Error::new_spanned(below, ORDER));
        }
        return Err(duplicate(below, METRICS));
    }
    // Another `#[prometheus_metrics]` under another name already expanded below this one.
    if Marker::Measured
        .find(handler.instrumented_block())
        .is_some()
    {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[prometheus_metrics]` is given twice on this fn (once under another name); keep one",
        ));
    }
    let metrics = MetricsArgs::parse(args)?;
    require_classifiable_output(&handler, &metrics)?;
    check_objective_label(&metrics, &handler.sig)?;
    Ok(Plan {
        handler,
        auth: None,
        metrics: Some(metrics),
    })
}

pub fn authenticated_plan(args: TokenStream, handler: Handler) -> syn::Result<Plan> {
    reject_const(&handler.sig, AUTHENTICATED)?;
    let args: AuthArgs = syn::parse2(args)?;
    // A `#[prometheus_metrics]` imported under another name, written above, has already
    // expanded into this body.
    if Marker::Measured
        .find(handler.instrumented_block())
        .is_some()
    {
        return Err(syn::Error::new(Span::call_site(), ORDER));
    }
    if Marker::Authenticated
        .find(handler.instrumented_block())
        .is_some()
    {
        return Err(syn::Error::new(
            Span::call_site(),
            "`#[authenticated]` is given twice on this fn (once under another name); keep one",
        ));
    }
    // The metrics attribute below is expanded here, after the check, so that authentication
    // runs first although rustc expands the upper attribute first.
    let mut metrics = None;
    for below in &handler.ours {
        if attr::is(below, AUTHENTICATED) || metrics.is_some() {
            let name = if attr::is(below, AUTHENTICATED) {
                AUTHENTICATED
            } else {
                METRICS
            };
            return Err(duplicate(below, name));
        }
        let below = MetricsArgs::from_attr(below)?;
        require_classifiable_output(&handler, &below)?;
        check_objective_label(&below, &handler.sig)?;
        metrics = Some(below);
    }
    let auth = AuthTarget::resolve(&handler.sig, args)?;
    Ok(Plan {
        handler,
        auth: Some(auth),
        metrics,
    })
}

/// An objective's rules select its handlers by their `handler` label, so it must be known at
/// compile time: a method's is derived from `Self` only at its first call.
fn check_objective_label(metrics: &MetricsArgs, sig: &Signature) -> syn::Result<()> {
    match (&metrics.objective, &metrics.handler, sig.receiver()) {
        (Some(objective), None, Some(_)) => Err(syn::Error::new_spanned(
            objective,
            "an objective's alert rules select its handlers by their `handler` label, which \
             this method gets from `Self` only when it first runs\n\
             help: put `#[prometheus_handlers]` on the impl block, or give \
             `handler = \"Type::method\"`",
        )),
        _ => Ok(()),
    }
}

fn duplicate(attr: &syn::Attribute, name: &str) -> syn::Error {
    syn::Error::new_spanned(
        attr,
        format!("`#[{name}]` is given twice on this fn; keep one"),
    )
}

fn reject_const(sig: &Signature, name: &str) -> syn::Result<()> {
    match &sig.constness {
        Some(constness) => Err(syn::Error::new_spanned(
            constness,
            format!(
                "`#[{name}]` cannot be used on a `const fn`: it reads the clock and updates \
                 metrics, which const evaluation cannot do; remove `const`"
            ),
        )),
        None => Ok(()),
    }
}

impl AuthTarget {
    fn resolve(sig: &Signature, args: AuthArgs) -> syn::Result<Self> {
        let krate = args.krate.clone();
        Self::resolve_value(sig, args).map(|value| AuthTarget { krate, ..value })
    }

    fn resolve_value(sig: &Signature, args: AuthArgs) -> syn::Result<Self> {
        let receiver = sig.receiver().map(|receiver| receiver.self_token);
        let Some(name) = args.param else {
            return Self::default_target(sig, receiver);
        };
        if name == "self" {
            return match receiver {
                Some(self_token) => Ok(AuthTarget::of(self_token)),
                None => Err(syn::Error::new_spanned(
                    &name,
                    format!("`{}` has no `self` parameter to check", sig.ident),
                )),
            };
        }
        let found = sig.inputs.iter().find_map(|input| match input {
            FnArg::Typed(typed) => binding(&typed.pat, &name),
            FnArg::Receiver(_) => None,
        });
        match found {
            Some(binding) => Ok(AuthTarget::of(binding)),
            None => Err(syn::Error::new_spanned(
                &name,
                format!(
                    "`{}` has no parameter named `{name}`{}",
                    sig.ident,
                    parameter_list(sig)
                ),
            )),
        }
    }

    fn default_target(sig: &Signature, receiver: Option<syn::Token![self]>) -> syn::Result<Self> {
        if let Some(self_token) = receiver {
            return Ok(AuthTarget::of(self_token));
        }
        match sig.inputs.first() {
            Some(FnArg::Typed(first)) => match &*first.pat {
                Pat::Ident(ident) if ident.subpat.is_none() => Ok(AuthTarget::of(&ident.ident)),
                pattern => Err(syn::Error::new_spanned(
                    pattern,
                    "`#[authenticated]` checks the first parameter, but it is a pattern; name \
                     the binding to check, like `#[authenticated(token)]`",
                )),
            },
            _ => Err(syn::Error::new(
                Span::call_site(),
                format!(
                    "`#[authenticated]` needs a value to check, but `{}` has no parameters: add a \
                     `&self` receiver or a parameter whose type implements \
                     `metrics_runtime::Authenticate`",
                    sig.ident
                ),
            )),
        }
    }

    fn of(value: impl ToTokens) -> Self {
        AuthTarget {
            value: value.into_token_stream(),
            krate: None,
        }
    }
}

/// The binding called `name` anywhere in a parameter pattern (`State(app): State<App>` binds `app`).
fn binding<'a>(pat: &'a Pat, name: &Ident) -> Option<&'a Ident> {
    match pat {
        Pat::Ident(ident) if ident.ident == *name => Some(&ident.ident),
        Pat::Ident(ident) => ident
            .subpat
            .as_ref()
            .and_then(|(_, sub)| binding(sub, name)),
        Pat::Tuple(tuple) => tuple.elems.iter().find_map(|p| binding(p, name)),
        Pat::TupleStruct(tuple) => tuple.elems.iter().find_map(|p| binding(p, name)),
        Pat::Struct(s) => s.fields.iter().find_map(|field| binding(&field.pat, name)),
        Pat::Reference(reference) => binding(&reference.pat, name),
        Pat::Paren(paren) => binding(&paren.pat, name),
        Pat::Slice(slice) => slice.elems.iter().find_map(|p| binding(p, name)),
        Pat::Type(typed) => binding(&typed.pat, name),
        _ => None,
    }
}

fn parameter_list(sig: &Signature) -> String {
    let names: Vec<String> = sig
        .inputs
        .iter()
        .map(|input| match input {
            FnArg::Receiver(_) => "self".to_owned(),
            FnArg::Typed(typed) => typed.pat.to_token_stream().to_string(),
        })
        .collect();
    if names.is_empty() {
        "; it has no parameters".to_owned()
    } else {
        format!("; its parameters are: {}", names.join(", "))
    }
}

/// The output's type decides what counts as an error, through probes that need it concrete
/// where the attribute expands: a type parameter (`-> R`, `Result<T, E>`) or an associated type
/// (`-> Self::Out`, `T::Out`) would be judged by its bounds alone, silently wrong. Those need
/// `error_if`.
fn require_classifiable_output(handler: &Handler, metrics: &MetricsArgs) -> syn::Result<()> {
    let async_trait = handler.async_trait_body().is_some();
    require_classifiable(&handler.sig, async_trait, &[], metrics)
}

/// The same for a method, knowing its `impl` block's type parameters too
/// (`#[prometheus_handlers]` sees them; a method's own attribute cannot).
pub fn require_classifiable(
    sig: &Signature,
    async_trait: bool,
    impl_params: &[&Ident],
    metrics: &MetricsArgs,
) -> syn::Result<()> {
    if metrics.skip.is_some() || metrics.error_if.is_some() {
        return Ok(());
    }
    let ReturnType::Type(_, output) = &sig.output else {
        return Ok(());
    };
    let classified = match shape::returned_future(output) {
        Some(future) => match future.output {
            Some(inner) => inner,
            None => return Ok(()),
        },
        None if async_trait => return Ok(()),
        None => &**output,
    };
    let params: Vec<&Ident> = sig
        .generics
        .type_params()
        .map(|param| &param.ident)
        .chain(impl_params.iter().copied())
        .collect();
    let mut finder = Unseen {
        params: &params,
        found: None,
    };
    finder.visit_type(classified);
    match finder.found {
        None => Ok(()),
        Some(unseen) => Err(syn::Error::new_spanned(
            unseen,
            format!(
                "`#[prometheus_metrics]` cannot tell whether `{}` is an error: it names a type \
                 that is only known where the fn is used\n\
                 help: say what counts as an error with `#[prometheus_metrics(error_if = \
                 path::to::fn)]` (a `fn(&{}) -> bool`), or `error_if = metrics_runtime::never`",
                written(classified),
                written(classified),
            ),
        )),
    }
}

/// The first type parameter or associated type in a type.
struct Unseen<'a> {
    params: &'a [&'a Ident],
    found: Option<syn::TypePath>,
}

impl<'ast> Visit<'ast> for Unseen<'_> {
    fn visit_type_path(&mut self, path: &'ast syn::TypePath) {
        if self.found.is_some() {
            return;
        }
        let first = path.path.segments.first().map(|segment| &segment.ident);
        let generic = first.is_some_and(|first| {
            self.params.contains(&first) || (first == "Self" && path.path.segments.len() > 1)
        });
        if path.qself.is_some() || (generic && path.path.leading_colon.is_none()) {
            self.found = Some(path.clone());
            return;
        }
        syn::visit::visit_type_path(self, path);
    }
}

/// A type as the user would write it: `Result<(), E>`, not `Result < (), E >`.
fn written(ty: &syn::Type) -> String {
    let spaced = ty.to_token_stream().to_string();
    [
        (" :: ", "::"),
        (" <", "<"),
        ("< ", "<"),
        (" >", ">"),
        (" ,", ","),
        ("& ", "&"),
    ]
    .iter()
    .fold(spaced, |text, (from, to)| text.replace(from, to))
}
