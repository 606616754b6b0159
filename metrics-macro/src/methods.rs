//! `#[prometheus_handlers]` on an `impl` block: it knows the type's name, which a method's own
//! attribute never sees, and writes it into each measured method's `handler` label. The label is
//! then known at compile time, so the series exists from the first scrape.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{ImplItem, ItemImpl, LitStr, Meta, Type};

use crate::attr::{self, MetricsArgs};

pub fn prometheus_handlers(args: TokenStream, input: TokenStream) -> TokenStream {
    match label_methods(args, input.clone()) {
        Ok(block) => block.into_token_stream(),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#error #input)
        }
    }
}

fn label_methods(args: TokenStream, input: TokenStream) -> syn::Result<ItemImpl> {
    if let Some(first) = args.into_iter().next() {
        return Err(syn::Error::new(
            first.span(),
            "`#[prometheus_handlers]` takes no arguments",
        ));
    }
    let mut block: ItemImpl = syn::parse2(input).map_err(|_| {
        syn::Error::new(
            Span::call_site(),
            "`#[prometheus_handlers]` goes on an `impl` block whose methods carry \
             `#[prometheus_metrics]`",
        )
    })?;
    let type_name = type_name(&block.self_ty)?;
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        if method.sig.receiver().is_none() {
            continue;
        }
        let method_name = method.sig.ident.to_string();
        let label = format!("{type_name}::{}", method_name.trim_start_matches("r#"));
        for attr in &mut method.attrs {
            if attr::is(attr, attr::METRICS) {
                label_attribute(attr, &label)?;
            }
        }
    }
    Ok(block)
}

/// `InstancesHandler` for `InstancesHandler`, `handlers::InstancesHandler<T>` or `&InstancesHandler`.
fn type_name(self_ty: &Type) -> syn::Result<String> {
    match self_ty {
        Type::Path(path) if path.qself.is_none() => {
            if let Some(last) = path.path.segments.last() {
                return Ok(last.ident.to_string());
            }
        }
        Type::Reference(reference) => return type_name(&reference.elem),
        Type::Group(group) => return type_name(&group.elem),
        Type::Paren(paren) => return type_name(&paren.elem),
        _ => {}
    }
    Err(syn::Error::new_spanned(
        self_ty,
        "`#[prometheus_handlers]` cannot name this type; give each method \
         `#[prometheus_metrics(handler = \"…\")]` instead",
    ))
}

/// Adds `handler = "Type::method"` unless the attribute already names a label or skips.
fn label_attribute(attr: &mut syn::Attribute, label: &str) -> syn::Result<()> {
    let args = MetricsArgs::from_attr(attr)?;
    if args.handler.is_some() || args.skip.is_some() {
        return Ok(());
    }
    let path = attr.path().clone();
    let label = LitStr::new(label, Span::call_site());
    let existing = match &attr.meta {
        Meta::List(list) if !list.tokens.is_empty() => {
            let tokens = &list.tokens;
            quote!(#tokens,)
        }
        _ => TokenStream::new(),
    };
    attr.meta = syn::parse_quote!(#path(#existing handler = #label));
    Ok(())
}
