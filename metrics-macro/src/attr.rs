//! The attributes' own arguments, and finding our attributes among the others on a fn.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::{Attribute, Ident, LitStr, Path, Token};

pub const METRICS: &str = "prometheus_metrics";
pub const AUTHENTICATED: &str = "authenticated";

/// Whether `attr` is ours, written bare or by path (`#[metrics_runtime::authenticated]`).
pub fn is(attr: &Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|last| last.ident == name)
}

/// Arguments of `#[prometheus_metrics(...)]`.
#[derive(Default)]
pub struct MetricsArgs {
    /// `handler = "..."`: replaces the derived `handler` label.
    pub handler: Option<LitStr>,
    /// `skip`: deliberately not measured; the fn is only listed as such.
    pub skip: Option<Ident>,
    /// `crate = "path"`: where the runtime crate is, when it is renamed.
    pub krate: Option<Path>,
    /// `error_if = path`: a `fn(&Output) -> bool` that decides what counts as an error.
    pub error_if: Option<Path>,
    /// `objective = PATH`: the `metrics_runtime::Objective` the fn serves.
    pub objective: Option<Path>,
    /// How the attribute was named when `#[authenticated]` expands it: the user's import of it
    /// must still count as used.
    pub written_as: Option<syn::Path>,
}

/// The runtime crate: `::metrics_runtime`, or the path given with `crate = "…"`.
fn runtime(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(path) => quote!(#path),
        None => quote!(::metrics_runtime),
    }
}

/// The module generated code names everything through.
pub fn private(krate: Option<&Path>) -> TokenStream {
    let runtime = runtime(krate);
    quote!(#runtime::__private)
}

/// Parses the value of `crate = "path"`, given once.
pub fn parse_crate(meta: &ParseNestedMeta, krate: &mut Option<Path>) -> syn::Result<()> {
    if krate.is_some() {
        return Err(meta.error("`crate` is given twice; keep one"));
    }
    let value: LitStr = meta.value()?.parse()?;
    *krate = Some(value.parse().map_err(|_| {
        syn::Error::new(
            value.span(),
            "expected the path of the renamed runtime crate, like `crate = \"handler_metrics\"`",
        )
    })?);
    Ok(())
}

impl MetricsArgs {
    pub fn parse(tokens: TokenStream) -> syn::Result<Self> {
        let mut args = MetricsArgs::default();
        let parser = syn::meta::parser(|meta| {
            if meta.path.is_ident("handler") {
                if args.handler.is_some() {
                    return Err(meta.error("`handler` is given twice; keep one"));
                }
                let value = meta.value()?;
                let handler: LitStr = value.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "expected the handler label as a string, like `handler = \"instances_get\"`",
                    )
                })?;
                validate_label(&handler)?;
                args.handler = Some(handler);
                Ok(())
            } else if meta.path.is_ident("crate") {
                parse_crate(&meta, &mut args.krate)
            } else if meta.path.is_ident("error_if") {
                if args.error_if.is_some() {
                    return Err(meta.error("`error_if` is given twice; keep one"));
                }
                let value = meta.value()?;
                args.error_if = Some(value.parse().map_err(|error| {
                    syn::Error::new(
                        error.span(),
                        "expected the path of a `fn(&Output) -> bool`, like \
                         `error_if = is_server_error`",
                    )
                })?);
                Ok(())
            } else if meta.path.is_ident("objective") {
                parse_objective(&meta, &mut args.objective)
            } else if meta.path.is_ident("skip") {
                if args.skip.is_some() {
                    return Err(meta.error("`skip` is given twice; keep one"));
                }
                args.skip = meta.path.get_ident().cloned();
                Ok(())
            } else {
                Err(meta.error(
                    "unknown argument of `#[prometheus_metrics]`; it takes \
                     `handler = \"label\"`, `error_if = path`, `objective = PATH`, `skip` or \
                     `crate = \"path\"`",
                ))
            }
        });
        parser.parse2(tokens)?;
        if let (Some(skip), Some(_)) = (&args.skip, &args.objective) {
            return Err(syn::Error::new_spanned(
                skip,
                "`skip` leaves the fn unmeasured, so it cannot serve an objective; remove one of \
                 them",
            ));
        }
        if let (Some(skip), Some(_)) = (&args.skip, &args.handler) {
            return Err(syn::Error::new_spanned(
                skip,
                "`skip` leaves the fn unmeasured, so it has no `handler` label; remove one of them",
            ));
        }
        Ok(args)
    }

    /// Arguments of an attribute found on the item: `#[prometheus_metrics]` has none.
    pub fn from_attr(attr: &Attribute) -> syn::Result<Self> {
        let args = match &attr.meta {
            syn::Meta::Path(_) => MetricsArgs::default(),
            syn::Meta::List(list) => MetricsArgs::parse(list.tokens.clone())?,
            syn::Meta::NameValue(name_value) => {
                return Err(syn::Error::new_spanned(
                    &name_value.value,
                    "expected `#[prometheus_metrics]` or `#[prometheus_metrics(handler = \"label\")]`",
                ));
            }
        };
        Ok(MetricsArgs {
            written_as: Some(attr.path().clone()),
            ..args
        })
    }
}

/// Parses the value of `objective = PATH`, given once.
pub fn parse_objective(meta: &ParseNestedMeta, objective: &mut Option<Path>) -> syn::Result<()> {
    if objective.is_some() {
        return Err(meta.error("`objective` is given twice; keep one"));
    }
    let value = meta.value()?;
    *objective = Some(value.parse().map_err(|error| {
        syn::Error::new(
            error.span(),
            "expected the path of a `const` `metrics_runtime::Objective`, like \
             `objective = CATALOGUE`",
        )
    })?);
    Ok(())
}

/// A label value must be printable: it ends up in every scrape and every dashboard.
fn validate_label(handler: &LitStr) -> syn::Result<()> {
    let value = handler.value();
    let problem = if value.trim().is_empty() {
        "the handler label is empty"
    } else if value.chars().any(char::is_control) {
        "the handler label contains a control character (newline, tab, ...)"
    } else if value.trim() != value {
        "the handler label starts or ends with whitespace"
    } else if value.len() > 128 {
        "the handler label is longer than 128 bytes"
    } else {
        return Ok(());
    };
    Err(syn::Error::new(
        handler.span(),
        format!("{problem}; use a short printable name like \"instances_get\""),
    ))
}

/// Arguments of `#[authenticated(...)]`: the parameter to check, if not the default, and the
/// runtime crate's path, if renamed.
#[derive(Default)]
pub struct AuthArgs {
    pub param: Option<Ident>,
    pub krate: Option<Path>,
}

impl Parse for AuthArgs {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut args = AuthArgs::default();
        if input.is_empty() {
            return Ok(args);
        }
        if !(input.peek(Token![crate]) && input.peek2(Token![=])) {
            args.param = Some(parse_param(input)?);
            if input.is_empty() {
                return Ok(args);
            }
            input.parse::<Token![,]>()?;
        }
        let parse_crate_argument = syn::meta::parser(|meta| {
            if meta.path.is_ident("crate") {
                parse_crate(&meta, &mut args.krate)
            } else {
                Err(meta.error(
                    "`#[authenticated]` checks one parameter; name only one, like \
                     `#[authenticated(request)]`",
                ))
            }
        });
        parse_crate_argument.parse2(input.parse()?)?;
        Ok(args)
    }
}

fn parse_param(input: ParseStream) -> syn::Result<Ident> {
    if !input.peek(Ident::peek_any) {
        return Err(input.error(
            "expected the name of the parameter to check, like `#[authenticated(request)]`",
        ));
    }
    let param = Ident::parse_any(input)?;
    if input.peek(Token![=]) {
        return Err(input.error(
            "`#[authenticated]` takes a parameter name only, like `#[authenticated(request)]`",
        ));
    }
    let crate_follows = input.peek(Token![,]) && input.peek2(Token![crate]);
    if !input.is_empty() && !crate_follows {
        return Err(input.error(
            "`#[authenticated]` checks one parameter; name only one, like \
             `#[authenticated(request)]`",
        ));
    }
    Ok(param)
}
