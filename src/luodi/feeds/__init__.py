"""Department feeds: declared in feeds/*.yaml, imported all or nothing with provenance."""
