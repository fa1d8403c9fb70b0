// Simulation top: the exported accelerator (peforge_top) on the behavioural DRAM.
// The host side (register bus, DRAM configuration, load/dump strobes, the output
// region writes must stay in) is left as ports for
// the testbench; the DRAM port is wired inside, so no testbench code runs per cycle.
module sim_top #(
    parameter int BUS_BYTES = 16,
    parameter int DRAM_BEATS = 1 << 20,
    parameter int REG_ADDR_BITS = 6
) (
    input  logic                     clk,
    input  logic                     rst,
    input  logic [REG_ADDR_BITS-1:0] bus_addr,
    input  logic [31:0]              bus_w_data,
    input  logic                     bus_w_stb,
    output logic [31:0]              bus_r_data,
    output logic                     done,
    input  logic [15:0]              cfg_latency,
    input  logic [15:0]              cfg_gap,
    input  logic [7:0]               cfg_stall,
    input  logic [31:0]              cfg_seed,
    input  logic                     load_stb,
    input  logic                     dump_stb,
    input  logic [31:0]              dump_first,
    input  logic [31:0]              dump_last,
    input  logic                     guard_writes,
    input  logic [31:0]              write_first,
    input  logic [31:0]              write_last
);
    logic                   rc_valid, rc_ready, rd_valid, rd_ready;
    logic                   wc_valid, wc_ready, wd_valid, wd_ready;
    logic [47:0]            rc_payload, wc_payload;
    logic [8*BUS_BYTES-1:0] rd_payload, wd_payload;

    peforge_top accelerator (
        .clk(clk), .rst(rst),
        .bus__addr(bus_addr), .bus__w_data(bus_w_data), .bus__w_stb(bus_w_stb),
        .bus__r_data(bus_r_data), .done(done),
        .dram__read_cmd__valid(rc_valid), .dram__read_cmd__ready(rc_ready),
        .dram__read_cmd__payload(rc_payload),
        .dram__read_data__valid(rd_valid), .dram__read_data__ready(rd_ready),
        .dram__read_data__payload(rd_payload),
        .dram__write_cmd__valid(wc_valid), .dram__write_cmd__ready(wc_ready),
        .dram__write_cmd__payload(wc_payload),
        .dram__write_data__valid(wd_valid), .dram__write_data__ready(wd_ready),
        .dram__write_data__payload(wd_payload)
    );

    dram_model #(.BUS_BYTES(BUS_BYTES), .DEPTH(DRAM_BEATS)) dram (
        .clk(clk), .rst(rst),
        .cfg_latency(cfg_latency), .cfg_gap(cfg_gap), .cfg_stall(cfg_stall),
        .cfg_seed(cfg_seed), .load_stb(load_stb), .dump_stb(dump_stb),
        .dump_first(dump_first), .dump_last(dump_last),
        .guard_writes(guard_writes), .write_first(write_first), .write_last(write_last),
        .read_cmd_valid(rc_valid), .read_cmd_ready(rc_ready), .read_cmd_payload(rc_payload),
        .read_data_valid(rd_valid), .read_data_ready(rd_ready), .read_data_payload(rd_payload),
        .write_cmd_valid(wc_valid), .write_cmd_ready(wc_ready), .write_cmd_payload(wc_payload),
        .write_data_valid(wd_valid), .write_data_ready(wd_ready),
        .write_data_payload(wd_payload)
    );
endmodule
