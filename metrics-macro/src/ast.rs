//! What the user wrote: the fn an attribute is on, with our attributes taken off it.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::parse::{ParseStream, Parser};
use syn::{Attribute, Block, Expr, ExprAsync, ExprCall, Item, ItemFn, Signature, Stmt, Visibility};

use crate::attr;
use crate::marker;

pub struct Handler {
    /// The user's other attributes, in order.
    pub attrs: Vec<Attribute>,
    /// Our attributes still below the one being expanded.
    pub ours: Vec<Attribute>,
    /// The sign of an `#[authenticated]` above that did not take this fn's metrics along.
    pub authenticated_above: Option<Attribute>,
    pub vis: Visibility,
    pub sig: Signature,
    pub block: Box<Block>,
}

impl Handler {
    /// Parses the item under `#[name]`, explaining what to do when it is not a fn with a body.
    pub fn parse(input: TokenStream, name: &str) -> syn::Result<Self> {
        let item = match syn::parse2::<ItemFn>(input.clone()) {
            Ok(item) => item,
            Err(not_a_fn) => return Err(explain_not_a_fn(input, name, not_a_fn)),
        };
        let (signs, attrs): (Vec<_>, Vec<_>) =
            item.attrs.into_iter().partition(marker::is_above_attribute);
        let (ours, attrs) = attrs
            .into_iter()
            .partition(|a| attr::is(a, attr::METRICS) || attr::is(a, attr::AUTHENTICATED));
        Ok(Handler {
            attrs,
            ours,
            authenticated_above: signs.into_iter().next(),
            vis: item.vis,
            sig: item.sig,
            block: item.block,
        })
    }

    /// The block the attributes instrument: the fn's body, or the future's inside a body that
    /// `#[async_trait]` rewrote.
    pub fn instrumented_block(&self) -> &Block {
        match self.async_trait_body() {
            Some((_, future)) => &future.block,
            None => &self.block,
        }
    }

    /// A body `#[async_trait]` already rewrote into `Box::pin(async move { ... })`.
    pub fn async_trait_body(&self) -> Option<(&ExprCall, &ExprAsync)> {
        if self.sig.asyncness.is_some() {
            return None;
        }
        let [Stmt::Expr(Expr::Call(call), None)] = self.block.stmts.as_slice() else {
            return None;
        };
        let Expr::Path(func) = &*call.func else {
            return None;
        };
        let segments: Vec<_> = func.path.segments.iter().map(|s| &s.ident).collect();
        let [.., boxed, pin] = segments.as_slice() else {
            return None;
        };
        if *boxed != "Box" || *pin != "pin" || call.args.len() != 1 {
            return None;
        }
        match call.args.first() {
            Some(Expr::Async(future)) if future.capture.is_some() => Some((call, future)),
            _ => None,
        }
    }
}

/// A fn whose signature parses but whose body does not: emitted as written, the compiler reports
/// the body's mistake itself, once, as `tracing-attributes` does with its `MaybeItemFn`.
pub fn has_unparsable_body(input: TokenStream) -> bool {
    fn fn_with_opaque_body(input: ParseStream) -> syn::Result<()> {
        input.call(Attribute::parse_outer)?;
        input.parse::<Visibility>()?;
        input.parse::<Signature>()?;
        match input.parse::<TokenTree>()? {
            TokenTree::Group(body) if body.delimiter() == Delimiter::Brace && input.is_empty() => {
                Ok(())
            }
            other => Err(syn::Error::new_spanned(other, "not a fn body")),
        }
    }
    fn_with_opaque_body.parse2(input).is_ok()
}

fn explain_not_a_fn(input: TokenStream, name: &str, not_a_fn: syn::Error) -> syn::Error {
    if let Ok(declaration) = syn::parse2::<syn::TraitItemFn>(input.clone()) {
        return syn::Error::new_spanned(
            &declaration.sig,
            format!(
                "`#[{name}]` needs a fn body: put it on the method in each `impl` block, not on \
                 the trait's declaration"
            ),
        );
    }
    let Ok(item) = syn::parse2::<Item>(input) else {
        return not_a_fn;
    };
    let (head, what): (TokenStream, &str) = match &item {
        Item::Impl(syn::ItemImpl {
            impl_token,
            self_ty,
            ..
        }) => (
            quote!(#impl_token #self_ty),
            "an `impl` block: put it on each handler method inside",
        ),
        Item::Mod(syn::ItemMod {
            mod_token, ident, ..
        }) => (
            quote!(#mod_token #ident),
            "a module: put it on each handler fn inside",
        ),
        Item::Trait(syn::ItemTrait {
            trait_token, ident, ..
        }) => (
            quote!(#trait_token #ident),
            "a trait: put it on each handler method in the `impl` blocks",
        ),
        Item::Struct(syn::ItemStruct {
            struct_token,
            ident,
            ..
        }) => (quote!(#struct_token #ident), "a struct"),
        Item::Enum(syn::ItemEnum {
            enum_token, ident, ..
        }) => (quote!(#enum_token #ident), "an enum"),
        other => (other.to_token_stream(), "this item"),
    };
    syn::Error::new_spanned(
        head,
        format!("`#[{name}]` goes on a handler fn, not on {what}"),
    )
}
