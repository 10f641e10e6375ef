"""Regenerate quickstart.ipynb from the cells below (keeps the notebook reviewable as code)."""

from pathlib import Path

import nbformat as nbf

CELLS = [
    ("md", "# kgx quickstart\n\nExtract a knowledge graph from the bundled sample corpus into the "
           "embedded store, query it with Cypher, and look at its degree distribution."),
    ("code", "import tempfile\nfrom pathlib import Path\n\n"
             "from kgx import ExtractConfig, extract_corpus, open_store\n\n"
             "corpus = Path.cwd().parent / 'samples' / 'corpus'\n"
             "store_path = Path(tempfile.mkdtemp()) / 'kgx-store'\n"
             "store = open_store(str(store_path))\n"
             "report = extract_corpus([corpus], store, ExtractConfig(extractor='spacy'))\n"
             "print(report.documents_written, 'documents,', report.relations, 'relations')\n"
             "assert report.relations > 0"),
    ("md", "## Query with Cypher\n\nParameters are bound with `$name`, never pasted into "
           "the query."),
    ("code", "result = store.query(\n"
             "    'MATCH (a:Entity)-[r:RELATION]->(b:Entity) WHERE a.type = $type '\n"
             "    'RETURN a.name, r.predicate, b.name ORDER BY a.name LIMIT 10',\n"
             "    {'type': 'PERSON'},\n)\n"
             "for row in result.rows:\n    print(*row, sep='  |  ')"),
    ("md", "## Degree distribution\n\nHow many entities take part in 1, 2, 3… relations."),
    ("code", "from collections import Counter\n\n"
             "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n\n"
             "degrees = store.query(\n"
             "    'MATCH (e:Entity)-[r:RELATION]-() RETURN e.id, count(r) AS degree'\n).rows\n"
             "histogram = Counter(degree for _, degree in degrees)\n"
             "xs = sorted(histogram)\n"
             "fig, ax = plt.subplots(figsize=(6, 4))\n"
             "ax.bar(xs, [histogram[x] for x in xs])\n"
             "ax.set_xlabel('relations per entity (degree)')\n"
             "ax.set_ylabel('entities')\n"
             "ax.set_yscale('log')\n"
             "ax.set_title('Degree distribution of the sample graph')\n"
             "fig.savefig(store_path.parent / 'degree_distribution.png')\n"
             "print(dict(sorted(histogram.items())))\n"
             "store.close()"),
]


def build() -> nbf.NotebookNode:
    """The quickstart notebook, unexecuted."""
    notebook = nbf.v4.new_notebook()
    notebook.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src)
                      for kind, src in CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


if __name__ == "__main__":
    nbf.write(build(), Path(__file__).with_name("quickstart.ipynb"))
