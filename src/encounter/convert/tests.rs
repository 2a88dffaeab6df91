use super::path::Path;

#[test]
fn paths_format_fields_and_indices() {
    let root = Path::root();
    assert_eq!(root.to_string(), "encounter");
    let labs = root.field("labs");
    assert_eq!(labs.to_string(), "encounter.labs");
    let lab = labs.index(3);
    let quantity = lab.field("quantity");
    assert_eq!(quantity.field("unit").to_string(), "encounter.labs[3].quantity.unit");
    let orders = root.field("medication_orders");
    let order = orders.index(0);
    let codes = order.field("codes");
    assert_eq!(codes.index(12).field("system").to_string(), "encounter.medication_orders[0].codes[12].system");
}
