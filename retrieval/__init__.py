"""Graph retrieval for RAG question answering (retrievers arrive with the retrieval work)."""

from .protocol import RetrievedChunk, Retriever

__all__ = ["RetrievedChunk", "Retriever"]
