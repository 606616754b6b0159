//! The call site of an instrumented fn: its identity (labels, and the series resolved for each
//! `Self` type), and the `handler` label a type gives. What a call does with it is `call`.
//!
//! Each instrumented fn has a `static CallSite`. A method's label names `Self`, and the one
//! static of a trait's default method serves every implementor, so a call site keeps one
//! resolution per `Self` type, in a list that grows without a lock and is read without one.

use once_cell::sync::OnceCell;

use crate::series::Series;

/// Names the `Self` type of a method (`core::any::type_name::<Self>`), or nothing for free fns.
pub type SelfType = fn() -> &'static str;

/// The static each instrumented fn keeps: its labels and, once it has run, its series.
#[doc(hidden)]
pub struct CallSite {
    pub(crate) handler: &'static str,
    pub(crate) qualify_with_self_type: bool,
    pub(crate) module: &'static str,
    pub(crate) resolved: OnceCell<&'static Resolved>,
}

/// The series of one `Self` type at a call site, and the next type's.
pub(crate) struct Resolved {
    pub(crate) self_type: SelfType,
    pub(crate) series: &'static Series,
    pub(crate) next: OnceCell<&'static Resolved>,
}

impl CallSite {
    /// A call site whose `handler` label is exactly `handler`.
    pub const fn new(handler: &'static str, module: &'static str) -> Self {
        CallSite {
            handler,
            qualify_with_self_type: false,
            module,
            resolved: OnceCell::new(),
        }
    }

    /// A method's call site: its `handler` label becomes `Type::method`.
    pub const fn method(method: &'static str, module: &'static str) -> Self {
        CallSite {
            qualify_with_self_type: true,
            ..CallSite::new(method, module)
        }
    }

    /// The `handler` label, if known without calling the fn: for a method, the label of the
    /// first `Self` type it was called with.
    pub(crate) fn label(&self) -> Option<String> {
        match self.resolved.get() {
            Some(first) => Some(first.series.handler.clone()),
            None => (!self.qualify_with_self_type).then(|| self.handler.to_owned()),
        }
    }
}

/// The name a `handler` label gives a type: the last path segment, without generics, of the
/// type itself, seen through references, smart pointers and `dyn`:
/// `my_crate::handlers::InstancesHandler<T>` → `InstancesHandler`,
/// `alloc::sync::Arc<my_crate::Foo>` → `Foo`, `dyn my_crate::Tr + core::marker::Send` → `Tr`.
///
/// The same rule, on syn types, is `type_name` in the macro crate's `methods.rs` (which writes
/// the label of `#[prometheus_handlers]` at compile time); a proc-macro crate can share no code,
/// so `tests/tests/type_names_agree.rs` runs both on the same types. `type_name`'s format is not
/// guaranteed by Rust: if it changed, that test fails, and until fixed a method without
/// `#[prometheus_handlers]` would get a different label (a new series), never a lost call.
pub(crate) fn short_type_name(full: &str) -> &str {
    const POINTERS: [&str; 5] = ["Arc", "Rc", "Box", "Pin", "Weak"];
    let mut name = full.trim();
    loop {
        name = name
            .trim_start_matches(['&', '*'])
            .trim_start_matches("mut ")
            .trim_start_matches("const ")
            .trim_start_matches("dyn ")
            .trim();
        // The first of the `+`-joined bounds of a trait object.
        let first_bound = top_level_split(name, '+').trim();
        let (path, arguments) = match first_bound.find('<') {
            Some(open) => (
                &first_bound[..open],
                first_bound[open + 1..].strip_suffix('>'),
            ),
            None => (first_bound, None),
        };
        let last = path.rsplit("::").next().unwrap_or(path);
        match arguments {
            Some(arguments) if POINTERS.contains(&last) => {
                name = top_level_split(arguments, ',');
            }
            _ => return last,
        }
    }
}

/// The part of `text` before the first `separator` outside of `<…>` and `(…)`.
fn top_level_split(text: &str, separator: char) -> &str {
    let mut depth = 0usize;
    for (index, c) in text.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => return &text[..index],
            _ => {}
        }
    }
    text
}

/// The `self_type` of free fns, which have no `Self` to name.
#[doc(hidden)]
pub fn no_self_type() -> &'static str {
    ""
}

#[cfg(test)]
mod tests {
    use super::short_type_name;

    #[test]
    fn type_names_keep_the_last_segment_without_generics() {
        assert_eq!(short_type_name("a::b::Handler"), "Handler");
        assert_eq!(short_type_name("a::Handler<b::C<d::E>>"), "Handler");
        assert_eq!(short_type_name("&a::Handler"), "Handler");
        assert_eq!(short_type_name("&mut a::Handler<u8>"), "Handler");
        assert_eq!(short_type_name("Handler"), "Handler");
    }

    #[test]
    fn type_names_look_through_pointers_and_trait_objects() {
        assert_eq!(short_type_name("alloc::sync::Arc<a::Foo>"), "Foo");
        assert_eq!(short_type_name("alloc::boxed::Box<a::Foo<u8, u16>>"), "Foo");
        assert_eq!(
            short_type_name("core::pin::Pin<alloc::boxed::Box<a::Foo>>"),
            "Foo"
        );
        assert_eq!(short_type_name("dyn a::Tr + core::marker::Send"), "Tr");
        assert_eq!(
            short_type_name("alloc::boxed::Box<dyn a::Tr<u8> + core::marker::Send + 'static>"),
            "Tr"
        );
        assert_eq!(
            short_type_name("alloc::sync::Arc<dyn a::Tr + core::marker::Sync>"),
            "Tr"
        );
        assert_eq!(short_type_name("&alloc::rc::Rc<a::Foo>"), "Foo");
        assert_eq!(
            short_type_name("a::Wrapper<alloc::sync::Arc<a::Foo>>"),
            "Wrapper"
        );
    }
}
