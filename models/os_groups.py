"""Output-stationary pixel groups across the tiles of an image (issue 13, item 5).

The output-stationary inner loop (pyhdl/os_loop.py) runs a tile's output pixels in groups of
`rows`, one pixel per array row; a tile whose pixels are not a multiple of `rows` ends with a
group whose other rows idle through every reduction block.  At batch 1 a layer of several
tiles pays that once per tile: ResNet-18's 56x56 layers on the default 16x16 take tiles of 9
rows (504 pixels, 31.5 groups: 199 groups for the 196 the 3,136 pixels need).  Tiles of 8 rows
are as many (7) and 448 pixels each, 28 whole groups: the same DRAM traffic (each tile reads
its band of input rows once either way) and no idle row.

A group cannot simply run on into the next tile's pixels: that tile's input band is not in
the input buffer yet, and making room for two bands would halve the tallest tile.  So the
mapper chooses, among the tile heights that give the same number of tiles, the one whose
tiles leave the fewest rows idle (`even_group_tile_rows`), and weighs it like any other
tiling (fewest cycles within the DRAM traffic it accepts).  The 7x7 layers' 49 of 64 (one
tile at batch 1) is a different loss: there is no other tile to share a group with; batches
already fill it (tiles span images).
"""


def _ceil_div(a, b):
    return -(-a // b)


def pixel_groups(p, q, tile_p, rows):
    """Groups of `rows` pixels the output-stationary loop runs for one image of `p` x `q`
    output pixels in tiles of `tile_p` output rows."""
    full, last = divmod(p, tile_p)
    return full * _ceil_div(tile_p * q, rows) + (_ceil_div(last * q, rows) if last else 0)


def even_group_tile_rows(p, q, tile_p, rows):
    """The tile height, at most `tile_p` and giving as many tiles, with the fewest pixel
    groups (the tallest of those), or None when `tile_p` already has the fewest."""
    tiles = _ceil_div(p, tile_p)
    shortest = _ceil_div(p, tiles)
    best = min(range(tile_p, shortest - 1, -1), key=lambda t: pixel_groups(p, q, t, rows))
    return best if pixel_groups(p, q, best, rows) < pixel_groups(p, q, tile_p, rows) else None


def evenly_grouped(mapping, rows):
    """`mapping` (output-stationary) has several tiles one row shorter than as many taller
    tiles would be, for fewer pixel groups: the tiling `even_group_tile_rows` adds."""
    p, q, tile_p = mapping.shape.p, mapping.shape.q, mapping.tile_p
    taller = tile_p + 1
    return (mapping.tiles > 1 and mapping.tile_images == 1 and taller <= p
            and _ceil_div(p, taller) == mapping.tiles
            and pixel_groups(p, q, tile_p, rows) < pixel_groups(p, q, taller, rows))
