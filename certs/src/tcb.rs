//! TCB_VERSION: eight bytes whose meaning depends on the product.
