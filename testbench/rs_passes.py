"""The configurations of a row-stationary pass's hardware units, computed on the host from
the model's pass plan (models.row_stationary.Pass): what the RS inner loop must compute
with its adders, and what the unit tests give the units they drive alone."""

from math import ceil


def array_config(mapping, plan, accumulate=None):
    """RowStationaryPEArray's `config` (pyhdl.rs_array.pass_layout) for `plan`; the columns
    start from psum_in when `accumulate` (default: the plan's)."""
    sh, array = mapping.shape, mapping.array
    channels = [len(cs) for cs in plan.channel_sets]
    filters = [len(ks) for ks in plan.filter_sets]
    return {"fold_rows": mapping.fold_rows, "fold_len": len(plan.fold),
            "vertical_sets": len(plan.channel_sets), "strip_cols": mapping.strip_cols,
            "strip_len": len(plan.strip), "horizontal_sets": len(plan.filter_sets),
            "channels": channels + [1] * (array.rows - len(channels)),
            "filters": filters + [1] * (array.cols - len(filters)),
            "taps": sh.s, "step": min(sh.stride, sh.s), "outputs": sh.q,
            "stride": sh.stride,
            "accumulate": int(plan.accumulate if accumulate is None else accumulate)}


def input_walk_config(mapping, plan):
    """RowStationaryInputWalk's `config` for `plan` over an input buffer holding image
    plan.n alone: pixel (hh, ww) block b at word (hh * w + ww) * c_blocks + b."""
    sh, rows = mapping.shape, mapping.array.rows
    u, s, pad = sh.stride, sh.s, sh.pad
    c_blocks = ceil(sh.c / rows)
    line_words = sh.w * c_blocks
    row_hh = plan.strip.start * u + plan.fold.start - pad
    q = mapping.channels
    c0 = plan.channel_sets[0].start
    return {"outputs": sh.q, "taps": s, "step": min(u, s), "stride": u,
            "fold_len": len(plan.fold), "strip_len": len(plan.strip),
            "vertical_sets": len(plan.channel_sets), "channels": q,
            "channels_last": len(plan.channel_sets[-1]), "first_lane": c0 % rows,
            "first_block": c0 // rows, "q_lanes": q % rows, "q_blocks": q // rows,
            "row_addr": row_hh * line_words - pad * c_blocks, "row_hh": row_hh,
            "line_words": line_words, "c_blocks": c_blocks, "row_step": u * line_words,
            "col_skip": max(u - s, 0), "col_skip_words": max(u - s, 0) * c_blocks,
            "h": sh.h, "w": sh.w, "pad": pad}


def filter_feed_config(mapping, plan, base):
    """RowStationaryFilterFeed's `config` for `plan`, its words from weight-buffer word
    `base` on."""
    return {"fold_rows": mapping.fold_rows, "fold_len": len(plan.fold),
            "vertical_sets": len(plan.channel_sets), "channels": len(plan.channel_sets[0]),
            "channels_last": len(plan.channel_sets[-1]),
            "horizontal_sets": len(plan.filter_sets), "filters": len(plan.filter_sets[0]),
            "filters_last": len(plan.filter_sets[-1]), "taps": mapping.shape.s, "base": base}


def collector_config(mapping, plan):
    """RowStationaryPsumCollector's `config` for `plan` over an output buffer holding image
    plan.n's outputs, one word of every filter (lane k) per pixel: pixel (e, f) at word
    e * F + f.  The words are overwritten by the first filter tile's first pass reducing
    into them (zero in the other tiles' lanes), added to by every later pass."""
    sh = mapping.shape
    return {"strip_cols": mapping.strip_cols, "strip_len": len(plan.strip),
            "horizontal_sets": len(plan.filter_sets), "filters": len(plan.filter_sets[0]),
            "filters_last": len(plan.filter_sets[-1]), "outputs": sh.q,
            "lane_base": plan.filter_sets[0].start, "out_base": plan.strip.start * sh.q,
            "col_step": 1, "row_step": sh.q,
            "first": int(not plan.accumulate and plan.filter_sets[0].start == 0)}


def pass_walk_config(mapping, weight_base=0):
    """RowStationaryPassWalk's `config` for image 0 of `mapping` (the input and output
    buffers as `input_walk_config` and `collector_config` have them), its weights from
    weight-buffer word `weight_base` on (`RowStationaryMapping.filter_buffer`)."""
    sh, rows = mapping.shape, mapping.array.rows
    plans = [mapping.plan(*start) for start in mapping.passes() if start[0] == 0]
    first, last = plans[0], plans[-1]
    walk = input_walk_config(mapping, first)
    q, p = mapping.channels, mapping.filters
    config = {name: walk[name] for name in (
        "outputs", "taps", "step", "stride", "line_words", "c_blocks", "row_step",
        "col_skip", "col_skip_words", "h", "w", "pad", "q_lanes", "q_blocks", "row_addr",
        "row_hh")}
    config.update({
        "k_tiles": ceil(sh.k / mapping.filter_tile), "c_tiles": ceil(sh.c / mapping.channel_tile),
        "folds": ceil(sh.r / mapping.fold_rows), "strips": ceil(sh.p / mapping.strip_cols),
        "filter_tile": mapping.filter_tile, "ct_lanes": mapping.channel_tile % rows,
        "ct_blocks": mapping.channel_tile // rows, "fold_rows": mapping.fold_rows,
        "fold_last": len(last.fold), "strip_cols": mapping.strip_cols,
        "strip_last": len(last.strip), "vertical_sets": len(first.channel_sets),
        "vsets_last": len(last.channel_sets), "channels": q,
        "channels_last": len(last.channel_sets[-1]),
        "horizontal_sets": len(first.filter_sets), "hsets_last": len(last.filter_sets),
        "filters": p, "filters_last": len(last.filter_sets[-1]),
        "fold_words": mapping.fold_rows * walk["line_words"],
        "strip_rows": mapping.strip_cols * sh.stride,
        "strip_words": mapping.strip_cols * sh.stride * walk["line_words"],
        "strip_out": mapping.strip_cols * sh.q, "out_base": 0, "weight_base": weight_base,
        "out_col_step": 1, "out_row_step": sh.q, "first_cb": 0, "first": 1})
    return config
