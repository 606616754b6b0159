//! The fn's arguments, taken into the measured body so that they drop inside the call. The body
//! runs in a `move` closure or `async move` block, which captures only the arguments it names;
//! the others would drop when the fn returns, after the call is recorded, and a `Drop` that
//! panics there would leave a success on the series.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{FnArg, Pat, Signature};

/// Prepares `sig` for a body that takes its arguments in, and returns the statements, first in
/// that body, that do it: `let name = name;` for every binding of the parameters, and
/// `let _ = &self;` for a by-value `self` (which makes a `move` closure or block capture it).
/// In `sig`, a top-level `_` parameter gets a mixed-site name, out of the user's reach (it would
/// otherwise live until the fn returns), and a binding's `mut` moves to its statement, where
/// the body mutates it. What a pattern leaves unbound (`..`, a nested `_`) cannot be named and
/// still drops when the fn returns.
pub fn take_in(sig: &mut Signature) -> TokenStream {
    let mut statements = TokenStream::new();
    for (position, input) in sig.inputs.iter_mut().enumerate() {
        match input {
            FnArg::Receiver(receiver)
                if receiver.reference.is_none() && receiver.colon_token.is_none() =>
            {
                statements.extend(quote!(let _ = &self;));
            }
            FnArg::Receiver(_) => {}
            FnArg::Typed(typed) => {
                if let Pat::Wild(wild) = &*typed.pat {
                    let ident =
                        format_ident!("__metrics_argument{}", position, span = Span::mixed_site());
                    *typed.pat = Pat::Ident(syn::PatIdent {
                        attrs: wild.attrs.clone(),
                        by_ref: None,
                        mutability: None,
                        ident,
                        subpat: None,
                    });
                }
                take_bindings(&mut typed.pat, &mut statements);
            }
        }
    }
    statements
}

fn take_bindings(pat: &mut Pat, statements: &mut TokenStream) {
    match pat {
        Pat::Ident(binding) => {
            // `ref mut` stays: the statement moves the `&mut` it binds.
            let mutability = match binding.by_ref {
                None => binding.mutability.take(),
                Some(_) => None,
            };
            let ident = &binding.ident;
            // Allowed: an argument the body leaves unused may be used by an attribute below
            // (`#[tracing::instrument]` records it), and this statement must not make it a
            // warning there.
            statements.extend(quote!(#[allow(unused_variables)] let #mutability #ident = #ident;));
            if let Some((_, subpat)) = &mut binding.subpat {
                take_bindings(subpat, statements);
            }
        }
        Pat::Tuple(tuple) => tuple
            .elems
            .iter_mut()
            .for_each(|p| take_bindings(p, statements)),
        Pat::TupleStruct(tuple) => {
            tuple
                .elems
                .iter_mut()
                .for_each(|p| take_bindings(p, statements));
        }
        Pat::Struct(s) => s
            .fields
            .iter_mut()
            .for_each(|field| take_bindings(&mut field.pat, statements)),
        Pat::Reference(reference) => take_bindings(&mut reference.pat, statements),
        Pat::Paren(paren) => take_bindings(&mut paren.pat, statements),
        Pat::Slice(slice) => slice
            .elems
            .iter_mut()
            .for_each(|p| take_bindings(p, statements)),
        Pat::Type(typed) => take_bindings(&mut typed.pat, statements),
        _ => {}
    }
}
