//! KDS client and certificate cache.
