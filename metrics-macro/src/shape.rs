//! What a signature says about how a body ends: its shape, and the types the verdict reads.

use syn::{GenericArgument, PathArguments, ReturnType, Type, TypeParamBound, parse_quote};

use crate::ast::Handler;

/// How the body runs, which decides how its end is seen.
#[derive(Clone, Copy, PartialEq)]
pub enum Shape {
    /// In a closure: `return` and `?` end the closure, and its value is the output.
    Sync,
    /// Inline, with `return` and `?` rewritten to leave a labelled block: a closure would
    /// report its own location to `#[track_caller]` code instead of the caller's.
    TrackCaller,
    /// Inline: `-> !` never returns, so a panic (or nothing) ends it.
    Never,
    /// An `async fn` or `#[async_trait]` body: timed inside the future.
    Async,
    /// A sync fn returning a future: timed from the call until the future completes.
    ReturnsFuture { boxed: bool },
}

impl Shape {
    pub fn of(handler: &Handler) -> Shape {
        let sig = &handler.sig;
        if sig.asyncness.is_some() {
            return Shape::Async;
        }
        let output = match &sig.output {
            ReturnType::Type(_, ty) => Some(&**ty),
            ReturnType::Default => None,
        };
        if let Some(Type::Never(_)) = output {
            return Shape::Never;
        }
        if let Some(future) = output.and_then(returned_future) {
            return Shape::ReturnsFuture {
                boxed: future.boxed,
            };
        }
        let track_caller = handler
            .attrs
            .iter()
            .any(|attr| attr.path().is_ident("track_caller"));
        if track_caller {
            Shape::TrackCaller
        } else {
            Shape::Sync
        }
    }
}

/// A future that a sync fn returns.
pub struct ReturnedFuture<'a> {
    /// `Pin<Box<dyn Future<…>>>`, `BoxFuture<…>` or `LocalBoxFuture<…>`, not `impl Future<…>`.
    pub boxed: bool,
    /// `R` in `Output = R` (or `BoxFuture<'a, R>`), where the type names it.
    pub output: Option<&'a Type>,
}

/// `impl Future<Output = R>`, `Pin<Box<dyn Future<Output = R> + …>>` (what `#[async_trait]`
/// returns), `BoxFuture<'a, R>` or `LocalBoxFuture<'a, R>`.
pub fn returned_future(ty: &Type) -> Option<ReturnedFuture<'_>> {
    match ty {
        Type::ImplTrait(bounds) => {
            future_bound(bounds.bounds.iter()).map(|output| ReturnedFuture {
                boxed: false,
                output,
            })
        }
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
                let output = match &last.arguments {
                    PathArguments::AngleBracketed(args) => {
                        args.args.iter().find_map(|arg| match arg {
                            GenericArgument::Type(output) => Some(output),
                            _ => None,
                        })
                    }
                    _ => None,
                };
                return Some(ReturnedFuture {
                    boxed: true,
                    output,
                });
            }
            let boxed = single_type_argument(single_type_argument(ty, "Pin")?, "Box")?;
            let Type::TraitObject(object) = boxed else {
                return None;
            };
            future_bound(object.bounds.iter()).map(|output| ReturnedFuture {
                boxed: true,
                output,
            })
        }
        Type::Group(group) => returned_future(&group.elem),
        Type::Paren(paren) => returned_future(&paren.elem),
        _ => None,
    }
}

/// `Some(output)` when one of the bounds is `Future`; `output` is its `Output = R`, if named.
fn future_bound<'a>(
    mut bounds: impl Iterator<Item = &'a TypeParamBound>,
) -> Option<Option<&'a Type>> {
    bounds.find_map(|bound| {
        let TypeParamBound::Trait(bound) = bound else {
            return None;
        };
        let last = bound.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return Some(None);
        };
        Some(args.args.iter().find_map(|arg| match arg {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        }))
    })
}

/// The output of the future a signature returns: an `#[async_trait]` method's, for example.
pub fn future_output(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    returned_future(ty)?.output
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

/// `&T`, `Box<T>`, `Rc<T>`, `Arc<T>`: a pointer whose value is what the handler answers.
pub fn points_to_its_value(ty: &Type) -> bool {
    match ty {
        Type::Reference(_) => true,
        Type::Path(path) => {
            path.qself.is_none()
                && path.path.segments.last().is_some_and(|last| {
                    (last.ident == "Box" || last.ident == "Rc" || last.ident == "Arc")
                        && matches!(last.arguments, PathArguments::AngleBracketed(_))
                })
        }
        Type::Group(group) => points_to_its_value(&group.elem),
        Type::Paren(paren) => points_to_its_value(&paren.elem),
        _ => false,
    }
}

/// Any path ending in `Result`: `Result<T, E>`, `io::Result<T>`, `anyhow::Result<T>`.
pub fn is_result(ty: &Type) -> bool {
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

/// A closure cannot name an `impl Trait` type; `_` lets the compiler infer that part.
/// Returns `None` when there was none to replace.
pub fn without_impl_trait(ty: &Type) -> Option<Type> {
    use syn::visit_mut::VisitMut;

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

/// `ty` where a closure or a turbofish can name it: `impl Trait` parts become `_`.
pub fn nameable(ty: &Type) -> Type {
    without_impl_trait(ty).unwrap_or_else(|| ty.clone())
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};
    use syn::{Type, parse_quote};

    use super::{returned_future, without_impl_trait};

    #[test]
    fn future_returning_signatures_are_recognised() {
        let cases: [(Type, Option<bool>); 7] = [
            (parse_quote!(impl Future<Output = u8>), Some(false)),
            (
                parse_quote!(impl Future<Output = u8> + Send + 'a),
                Some(false),
            ),
            (
                parse_quote!(Pin<Box<dyn Future<Output = u8> + Send>>),
                Some(true),
            ),
            (parse_quote!(futures::future::BoxFuture<'a, u8>), Some(true)),
            (parse_quote!(LocalBoxFuture<'static, u8>), Some(true)),
            (parse_quote!(Pin<Box<dyn Iterator<Item = u8>>>), None),
            (parse_quote!(impl Iterator<Item = u8>), None),
        ];
        for (ty, expected) in cases {
            let future = returned_future(&ty);
            assert_eq!(
                future.as_ref().map(|f| f.boxed),
                expected,
                "{}",
                ty.to_token_stream()
            );
            let output = future
                .and_then(|f| f.output)
                .map(|ty| ty.to_token_stream().to_string());
            let named = expected.map(|_| "u8".to_owned());
            assert_eq!(output, named, "{}", ty.to_token_stream());
        }
    }

    #[test]
    fn impl_trait_becomes_inferred() {
        let ty: Type = parse_quote!(Result<impl Display, String>);
        let replaced = without_impl_trait(&ty).unwrap();
        assert_eq!(
            replaced.to_token_stream().to_string(),
            quote!(Result<_, String>).to_string()
        );
        assert!(without_impl_trait(&parse_quote!(Vec<u8>)).is_none());
    }
}
