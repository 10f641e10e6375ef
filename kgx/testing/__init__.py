"""Test helpers shipped with kgx: fakes and a real Neo4j launcher for tests and benchmarks."""
