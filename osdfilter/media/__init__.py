"""Media: input and output files, demux, decode, encode, mux (PyAV), the pipeline threads."""
