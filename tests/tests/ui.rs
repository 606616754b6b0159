//! Every misuse of the attributes is a compile error on the offending tokens; the `pass` cases
//! compile without warnings.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/fail/*.rs");
    cases.pass("tests/ui/pass/*.rs");
}
