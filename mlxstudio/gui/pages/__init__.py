"""One module per wizard page; each is a view over WizardState."""
