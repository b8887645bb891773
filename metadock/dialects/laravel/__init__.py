"""Laravel as Patchworks serves it: spatie query builder parameters, the paginator's JSON, ``{message, errors}``."""
