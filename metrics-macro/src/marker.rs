//! The statement each expansion leaves at the top of the body it writes, so that the other
//! attribute, expanding after it, recognises its work by structure, not by the name it was
//! imported under (`use metrics_runtime::prometheus_metrics as measured;`).

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{Block, Item, Stmt};

#[derive(Clone, Copy, PartialEq)]
pub enum Marker {
    /// `#[authenticated]` wrote the check: the marker, then the `if let Err(..) = .. { return .. }`.
    Authenticated,
    /// `#[prometheus_metrics]` instruments this body.
    Measured,
}

impl Marker {
    fn name(self) -> &'static str {
        match self {
            Marker::Authenticated => "__HANDLER_METRICS_AUTHENTICATED",
            Marker::Measured => "__HANDLER_METRICS_MEASURED",
        }
    }

    pub fn statement(self) -> TokenStream {
        let name = syn::Ident::new(self.name(), Span::mixed_site());
        quote!(#[allow(dead_code)] const #name: () = ();)
    }

    /// Where this marker stands among the block's statements.
    pub fn find(self, block: &Block) -> Option<usize> {
        block.stmts.iter().position(|stmt| match stmt {
            Stmt::Item(Item::Const(item)) => item.ident == self.name(),
            _ => false,
        })
    }
}

/// A body split where `#[authenticated]` left its check: the check (with its marker) and the
/// statements after it. Without a check, all statements are the rest.
pub struct Checked<'a> {
    pub check: &'a [Stmt],
    pub rest: &'a [Stmt],
}

pub fn split_check(block: &Block) -> Checked<'_> {
    match Marker::Authenticated.find(block) {
        // The marker and the `if let` after it.
        Some(at) if at + 2 <= block.stmts.len() => {
            let (check, rest) = block.stmts.split_at(at + 2);
            Checked { check, rest }
        }
        _ => Checked {
            check: &[],
            rest: &block.stmts,
        },
    }
}

#[cfg(test)]
mod tests {
    use syn::parse_quote;

    use super::{Marker, split_check};

    #[test]
    fn a_written_check_is_found_by_its_marker_and_split_off() {
        let authenticated = Marker::Authenticated.statement();
        let block: syn::Block = parse_quote!({
            registration!();
            #authenticated
            if let Err(rejection) = check(&request) { return Err(rejection); }
            body();
            done()
        });
        let checked = split_check(&block);
        assert_eq!((checked.check.len(), checked.rest.len()), (3, 2));
        assert_eq!(Marker::Authenticated.find(&block), Some(1));
        assert_eq!(Marker::Measured.find(&block), None);

        let plain: syn::Block = parse_quote!({
            body();
            done()
        });
        let unchecked = split_check(&plain);
        assert_eq!((unchecked.check.len(), unchecked.rest.len()), (0, 2));
    }
}
