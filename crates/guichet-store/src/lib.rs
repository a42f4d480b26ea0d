//! guichet's persistence.
