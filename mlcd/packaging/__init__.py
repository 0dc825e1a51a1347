"""Model images: build (`mlcd package`), check (`mlcd smoke`) and publish (`mlcd push`)."""
