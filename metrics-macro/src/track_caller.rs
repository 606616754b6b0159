//! `#[track_caller]` bodies run inline, not in a closure (a closure would report its own
//! location as the caller's), so their `return` and `?` are rewritten to leave a labelled block
//! with the value the fn would have returned.
//!
//! Limit: a `return` or `?` inside another macro's arguments (`format!("{}", x?)`), or one a
//! macro produces (`anyhow::bail!`), is not seen, so that exit counts as success.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::visit_mut::VisitMut;
use syn::{Expr, Lifetime, parse_quote};

/// Rewrites `return e` into `break 'label e` and `e?` into a `match` that breaks out with the
/// residual, leaving closures, async blocks and nested items, whose `return` and `?` are
/// their own, as they are.
pub struct LeaveLabelledBlock<'a> {
    pub label: &'a Lifetime,
    pub private: &'a TokenStream,
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

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};
    use syn::parse_quote;
    use syn::visit_mut::VisitMut;

    use super::LeaveLabelledBlock;

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
