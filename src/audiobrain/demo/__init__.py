"""Everything that fabricates the embedded demos of both studies: data, planted truth, corpora
and model stand-ins. Only the demo rules' scripts import it; nothing here runs on real data."""
