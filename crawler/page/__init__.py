"""A fetched document, pure (no I/O): a page's bytes -> text -> a tree shaped as the HTML standard
shapes it -> links and image URLs (srcset and CSS image-set() included); a sitemap's bytes ->
its pages and images."""
