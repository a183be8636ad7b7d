pub mod params; pub use params::*;
