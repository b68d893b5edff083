"""Request bodies shared by the API and the web: strict pydantic models that turn into domain
objects. They import the domain and the runtime only."""
