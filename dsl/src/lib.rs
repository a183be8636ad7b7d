//! qcc rule language.
