"""Git push ingestion: webhook sources, the normalized push, routing and intake."""
