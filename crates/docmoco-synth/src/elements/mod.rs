//! Building blocks shared by several classes (tables, logos, stamps, barcodes, figures,
//! signatures, checkboxes). Sharing them keeps the classification task honest: a table or
//! a stamp alone must not give the class away.

pub mod barcode;
pub mod figure;
pub mod logo;
pub mod marks;
pub mod stamp;
pub mod table;
