//! The contract between the two attributes, written and read here only.
//!
//! `#[authenticated]` writes its check as two statements at the top of the body: the marker
//! `__private::authenticated_check! { registration }`, then `if let Err(..) = check { return .. }`.
//! `#[prometheus_metrics]`, expanding later (imported under another name, so `#[authenticated]`
//! did not take it along), finds the marker by its macro path (which user code cannot write by
//! accident), replaces it with its own registration, counts the rejection inside the `if` and
//! starts measuring after it. A body another attribute rewrote in between keeps the two
//! statements, further down: they are looked for in the blocks that end a body.
//! When `#[authenticated]` did not recognise a measuring attribute below it, it also leaves the
//! attribute `#[__private::authenticated_above]` last on the fn, which other attribute macros
//! pass on: a measuring attribute that sees it but cannot find the check refuses to compile
//! rather than count rejected calls as requests.
//! `#[prometheus_metrics]` leaves `__private::measured_here!();` where it measures, so that an
//! attribute expanding after it sees the body is measured already.

use proc_macro2::{Ident, TokenStream};
use quote::quote;
use syn::visit_mut::VisitMut;
use syn::{Attribute, Block, Expr, Path, Stmt, parse_quote};

#[derive(Clone, Copy, PartialEq)]
pub enum Marker {
    /// `#[authenticated]` wrote the check: the marker, then the `if let`.
    Authenticated,
    /// `#[prometheus_metrics]` measures this body.
    Measured,
}

const ABOVE: &str = "authenticated_above";

impl Marker {
    fn name(self) -> &'static str {
        match self {
            Marker::Authenticated => "authenticated_check",
            Marker::Measured => "measured_here",
        }
    }

    /// The marker statement; `inner` is what it expands to (the registration of an
    /// authenticated fn that nothing measures).
    pub fn statement(self, private: &TokenStream, inner: TokenStream) -> TokenStream {
        let name = syn::Ident::new(self.name(), proc_macro2::Span::call_site());
        quote!(#private::#name! { #inner })
    }

    fn is(self, stmt: &Stmt) -> bool {
        match stmt {
            Stmt::Macro(stmt) => is_private(&stmt.mac.path, self.name()),
            Stmt::Expr(Expr::Macro(expr), _) => is_private(&expr.mac.path, self.name()),
            _ => false,
        }
    }

    /// Where this marker stands among the block's own statements.
    pub fn find(self, block: &Block) -> Option<usize> {
        block.stmts.iter().position(|stmt| self.is(stmt))
    }
}

/// `…::__private::name`, whatever the runtime crate is called.
fn is_private(path: &Path, name: &str) -> bool {
    let segments: Vec<_> = path.segments.iter().map(|s| &s.ident).collect();
    matches!(segments.as_slice(), [.., private, last] if *private == "__private" && *last == name)
}

/// The attribute `#[authenticated]` leaves last on a fn it did not take the metrics of.
pub fn above_attribute(private: &TokenStream) -> TokenStream {
    let name = syn::Ident::new(ABOVE, proc_macro2::Span::call_site());
    quote!(#[#private::#name])
}

pub fn is_above_attribute(attr: &Attribute) -> bool {
    is_private(attr.path(), ABOVE)
}

/// The check `#[authenticated]` writes: the marker (which expands to `registration` while
/// nothing measures the fn), then the `if let` that returns `reject` when `check` fails,
/// counting the rejection first with `count_rejection` when the fn is measured.
pub fn write_check(
    private: &TokenStream,
    registration: TokenStream,
    check: TokenStream,
    rejection: &Ident,
    count_rejection: Option<&TokenStream>,
    reject: TokenStream,
) -> TokenStream {
    let marker = Marker::Authenticated.statement(private, registration);
    quote! {
        #marker
        if let ::core::result::Result::Err(#rejection) = #check {
            #count_rejection
            return #reject;
        }
    }
}

/// A check written by an earlier expansion, now counting its rejections.
pub fn count_rejections_in(check: &Stmt, count_rejection: &TokenStream) -> Stmt {
    let mut check = check.clone();
    if let Stmt::Expr(Expr::If(check), _) = &mut check {
        check
            .then_branch
            .stmts
            .insert(0, parse_quote!(#count_rejection));
    }
    check
}

/// A body split where `#[authenticated]` left its check.
pub struct Checked<'a> {
    /// The `if let` that checks, when the body has one.
    pub check: Option<&'a Stmt>,
    /// The statements before the marker and after the check.
    pub before: &'a [Stmt],
    pub rest: &'a [Stmt],
}

pub fn split_check(block: &Block) -> Checked<'_> {
    match Marker::Authenticated.find(block) {
        Some(at) if at + 2 <= block.stmts.len() => Checked {
            check: Some(&block.stmts[at + 1]),
            before: &block.stmts[..at],
            rest: &block.stmts[at + 2..],
        },
        _ => Checked {
            check: None,
            before: &[],
            rest: &block.stmts,
        },
    }
}

/// Where a written check was found below the top of a body.
#[derive(Debug, PartialEq)]
pub enum Nested {
    /// In a block that ends a body: `rewrite` was given it, and whether that body is async.
    Rewritten,
    /// Somewhere the statements after it are not the rest of a body: measuring from there
    /// would change what `return` means.
    NotAtTheEnd,
    Absent,
}

/// Looks for the check in the blocks that end the fn's body or a closure or `async` block in
/// it (what `#[tracing::instrument]` and `#[async_trait]` write around a body), and gives that
/// block to `rewrite` with whether its body is async.
pub fn rewrite_nested_check(block: &mut Block, rewrite: impl FnMut(&mut Block, bool)) -> Nested {
    let mut finder = FindCheck {
        rewrite,
        ends_body: true,
        in_async: false,
        found: Nested::Absent,
    };
    finder.visit_block_mut(block);
    finder.found
}

struct FindCheck<F> {
    rewrite: F,
    /// Whether the block being visited is the last thing its body evaluates.
    ends_body: bool,
    in_async: bool,
    found: Nested,
}

impl<F: FnMut(&mut Block, bool)> FindCheck<F> {
    fn within(&mut self, ends_body: bool, in_async: bool, visit: impl FnOnce(&mut Self)) {
        let saved = (self.ends_body, self.in_async);
        (self.ends_body, self.in_async) = (ends_body, in_async);
        visit(self);
        (self.ends_body, self.in_async) = saved;
    }
}

impl<F: FnMut(&mut Block, bool)> VisitMut for FindCheck<F> {
    fn visit_block_mut(&mut self, block: &mut Block) {
        if self.found != Nested::Absent {
            return;
        }
        if Marker::Authenticated.find(block).is_some() {
            self.found = if self.ends_body {
                (self.rewrite)(block, self.in_async);
                Nested::Rewritten
            } else {
                Nested::NotAtTheEnd
            };
            return;
        }
        let ends_body = self.ends_body;
        let last = block.stmts.len().saturating_sub(1);
        for (index, stmt) in block.stmts.iter_mut().enumerate() {
            let tail = ends_body && index == last && matches!(stmt, Stmt::Expr(_, None));
            let in_async = self.in_async;
            self.within(tail, in_async, |finder| finder.visit_stmt_mut(stmt));
        }
    }

    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Block(block) => self.visit_block_mut(&mut block.block),
            Expr::Unsafe(block) => self.visit_block_mut(&mut block.block),
            Expr::Async(future) => {
                self.within(true, true, |finder| {
                    finder.visit_block_mut(&mut future.block)
                });
            }
            Expr::Closure(closure) => {
                let in_async = closure.asyncness.is_some();
                self.within(true, in_async, |finder| {
                    finder.visit_expr_mut(&mut closure.body)
                });
            }
            _ => {
                let in_async = self.in_async;
                self.within(false, in_async, |finder| {
                    syn::visit_mut::visit_expr_mut(finder, expr);
                });
            }
        }
    }

    // Items nested in the body are not part of it.
    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::parse_quote;

    use super::{Marker, Nested, rewrite_nested_check, split_check};

    #[test]
    fn a_written_check_is_found_by_its_marker_and_split_off() {
        let private = quote!(::metrics_runtime::__private);
        let authenticated = Marker::Authenticated.statement(&private, quote!());
        let block: syn::Block = parse_quote!({
            registration!();
            #authenticated
            if let Err(rejection) = check(&request) { return Err(rejection); }
            body();
            done()
        });
        let checked = split_check(&block);
        assert!(checked.check.is_some());
        assert_eq!((checked.before.len(), checked.rest.len()), (1, 2));
        assert_eq!(Marker::Authenticated.find(&block), Some(1));
        assert_eq!(Marker::Measured.find(&block), None);

        let lookalike: syn::Block = parse_quote!({
            const __HANDLER_METRICS_AUTHENTICATED: () = ();
            authenticated_check! {}
            if slow {
                wait();
            }
            done()
        });
        assert!(split_check(&lookalike).check.is_none());
    }

    #[test]
    fn a_check_is_found_where_it_ends_a_body_and_refused_elsewhere() {
        let authenticated = Marker::Authenticated.statement(&quote!(hm::__private), quote!());
        let mut wrapped: syn::Block = parse_quote!({
            let span = span();
            let future = async move {
                if false { return loop {}; }
                { #authenticated if let Err(r) = check() { return Err(r); } body() }
            };
            future.await
        });
        let mut seen = Vec::new();
        let found = rewrite_nested_check(&mut wrapped, |block, in_async| {
            seen.push((block.stmts.len(), in_async));
        });
        assert_eq!((found, seen), (Nested::Rewritten, vec![(3, true)]));

        let mut not_at_end: syn::Block = parse_quote!({
            { #authenticated if let Err(r) = check() { return Err(r); } }
            body()
        });
        let found = rewrite_nested_check(&mut not_at_end, |_, _| panic!("not at the end"));
        assert_eq!(found, Nested::NotAtTheEnd);
    }
}
