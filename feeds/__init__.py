"""Articles to RSS 2.0, Atom 1.0 and JSON Feed 1.1 bytes, and the store of those bytes."""
