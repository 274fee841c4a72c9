//! The no_std guest driver for (extended) guest requests over a Vmgexit trait.
