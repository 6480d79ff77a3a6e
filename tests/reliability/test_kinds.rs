//! The test-only `count` kind exists only where `enable_test_kinds` is `true`: a
//! production deployment refuses it like any unknown kind.

use e2e::inputs;

use crate::common::fleet;

#[test]
fn the_count_kind_is_an_unknown_kind_unless_test_kinds_are_enabled() {
    // Arrange
    let (production, _) = fleet(0, &[]);
    let (testing, _) = fleet(0, &[("enable_test_kinds", "true")]);

    // Act
    let refused = production.submit(&inputs::count(0));
    let accepted = testing.submit(&inputs::count(0));

    // Assert
    refused.expect_problem_type(422, "unknown-kind");
    e2e::check_receipt(&accepted);
}
