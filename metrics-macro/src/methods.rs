//! `#[prometheus_handlers]` on an `impl` block: it knows the type's name, which a method's own
//! attribute never sees, and writes it into each measured method's `handler` label. The label is
//! then known at compile time, so the series exists from the first scrape.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::{ImplItem, ItemImpl, LitStr, Meta, Path, Type, TypeParamBound};

use crate::attr::{self, MetricsArgs};
use crate::plan;

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
    let mut krate = None;
    let mut objective = None;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            attr::parse_crate(&meta, &mut krate)
        } else if meta.path.is_ident("objective") {
            attr::parse_objective(&meta, &mut objective)
        } else {
            Err(meta.error(
                "`#[prometheus_handlers]` takes no arguments but `objective = PATH` and \
                 `crate = \"path\"`",
            ))
        }
    });
    parser.parse2(args)?;
    let mut block: ItemImpl = syn::parse2(input).map_err(|_| {
        syn::Error::new(
            Span::call_site(),
            "`#[prometheus_handlers]` goes on an `impl` block whose methods carry \
             `#[prometheus_metrics]`",
        )
    })?;
    let type_name = type_name(&block.self_ty)?;
    // A blanket impl (`impl<T: Display> Handler for T`) names no type: its methods keep the
    // label their first call finds, `u8::handle` or `str::handle`, not one series for all.
    if block
        .generics
        .type_params()
        .any(|param| param.ident == type_name)
    {
        return Ok(block);
    }
    let impl_params: Vec<syn::Ident> = block
        .generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    let impl_params: Vec<&syn::Ident> = impl_params.iter().collect();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        // Associated fns without `self` too: `Alpha::create` and `Beta::create` stay apart.
        let label = format!("{type_name}::{}", method.sig.ident.unraw());
        for attr in &mut method.attrs {
            if attr::is(attr, attr::METRICS) {
                let args = MetricsArgs::from_attr(attr)?;
                plan::require_classifiable(&method.sig, false, &impl_params, &args)?;
                label_attribute(attr, &label, krate.as_ref(), objective.as_ref())?;
            }
        }
    }
    Ok(block)
}

/// The type a label names: `InstancesHandler` for `InstancesHandler`,
/// `handlers::InstancesHandler<T>`, `&InstancesHandler`, `Arc<InstancesHandler>` or
/// `Box<dyn InstancesHandler + Send>`: the type inside a pointer, the trait of a trait object.
/// The runtime applies the same rule to `std::any::type_name` (`short_type_name` in `site.rs`)
/// for methods outside `#[prometheus_handlers]`; `tests/tests/type_names_agree.rs` checks that
/// the two agree.
fn type_name(self_ty: &Type) -> syn::Result<String> {
    const POINTERS: [&str; 5] = ["Arc", "Rc", "Box", "Pin", "Weak"];
    match self_ty {
        Type::Path(path) if path.qself.is_none() => {
            if let Some(last) = path.path.segments.last() {
                let inner = match &last.arguments {
                    syn::PathArguments::AngleBracketed(args) => {
                        args.args.iter().find_map(|arg| match arg {
                            syn::GenericArgument::Type(inner) => Some(inner),
                            _ => None,
                        })
                    }
                    _ => None,
                };
                return match inner {
                    Some(inner) if POINTERS.iter().any(|pointer| last.ident == pointer) => {
                        type_name(inner)
                    }
                    _ => Ok(last.ident.unraw().to_string()),
                };
            }
        }
        Type::TraitObject(object) => {
            let first_trait = object.bounds.iter().find_map(|bound| match bound {
                TypeParamBound::Trait(bound) => bound.path.segments.last(),
                _ => None,
            });
            if let Some(last) = first_trait {
                return Ok(last.ident.unraw().to_string());
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

/// Adds `handler = "Type::method"` unless the attribute already names a label or skips, the
/// block's `objective = PATH` unless it skips or has its own, and the block's `crate = "…"`
/// unless the attribute has its own.
fn label_attribute(
    attr: &mut syn::Attribute,
    label: &str,
    krate: Option<&Path>,
    objective: Option<&Path>,
) -> syn::Result<()> {
    let args = MetricsArgs::from_attr(attr)?;
    let mut added = Vec::new();
    if args.handler.is_none() && args.skip.is_none() {
        let label = LitStr::new(label, Span::call_site());
        added.push(quote!(handler = #label));
    }
    if let (Some(objective), None, None) = (objective, &args.objective, &args.skip) {
        added.push(quote!(objective = #objective));
    }
    if let (Some(krate), None) = (krate, &args.krate) {
        let krate = LitStr::new(&krate.to_token_stream().to_string(), Span::call_site());
        added.push(quote!(crate = #krate));
    }
    if added.is_empty() {
        return Ok(());
    }
    let path = attr.path().clone();
    let existing = match &attr.meta {
        Meta::List(list) if !list.tokens.is_empty() => {
            let tokens = &list.tokens;
            quote!(#tokens,)
        }
        _ => TokenStream::new(),
    };
    attr.meta = syn::parse_quote!(#path(#existing #(#added),*));
    Ok(())
}

#[cfg(test)]
mod tests {
    use syn::{Type, parse_quote};

    use super::type_name;

    #[test]
    fn labels_name_the_type_inside_pointers_and_the_trait_of_objects() {
        let cases: [(Type, &str); 7] = [
            (parse_quote!(InstancesHandler), "InstancesHandler"),
            (
                parse_quote!(handlers::InstancesHandler<T>),
                "InstancesHandler",
            ),
            (parse_quote!(&'a InstancesHandler), "InstancesHandler"),
            (parse_quote!(Arc<InstancesHandler>), "InstancesHandler"),
            (parse_quote!(std::pin::Pin<Box<Foo>>), "Foo"),
            (parse_quote!(Box<dyn Handler + Send>), "Handler"),
            (parse_quote!(r#type), "type"),
        ];
        for (ty, expected) in cases {
            assert_eq!(type_name(&ty).unwrap(), expected);
        }
        assert!(type_name(&parse_quote!((A, B))).is_err());
    }
}
