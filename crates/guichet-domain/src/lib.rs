//! guichet's model and access decision.
