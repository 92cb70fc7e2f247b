"""A training set from a folder of documents: notes become questions and answers in the
owner's voice (Second-Me's memory and time questions), written by a local MLX model or,
only when the user gives one, an OpenAI-compatible server. No Qt here."""
