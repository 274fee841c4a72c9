//! SEV-SNP product lines (Milan, Genoa, Turin) and how to tell them apart.
