"""The one template environment every pass uses: static checks, rendering and export names."""
