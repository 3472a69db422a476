"""A brand's GS1 Digital Link links: per product, per batch or per code range, the targets the
resolver offers for a link type (language, media type, title, a default flag)."""
