// Behavioural DRAM for simulation only (not part of the exported accelerator).
//
// Serves the accelerator's DRAM port: read and write bursts of BUS_BYTES-wide beats, queued
// up to QUEUE commands deep and served back to back (the next burst's first beat follows the
// last beat of the previous one), with run-time configurable timing so one Verilator build
// covers every test:
//   cfg_latency    cycles from accepting a read command to its first beat being offered
//   cfg_gap        idle cycles after every beat (bandwidth = 1 / (1 + cfg_gap) beats/cycle)
//   cfg_stall      per-cycle probability, in 1/256ths, that a beat is withheld (reads) or
//                  refused (writes): random backpressure from a 32-bit LFSR
//   cfg_seed       LFSR seed, loaded while rst is high
// The memory is filled and read back by the testbench through binary files, not per cycle
// (testbench/dram_image.py writes and reads them):
//   a cycle with load_stb high reads +dram_load=FILE: regions, each a header of two
//   big-endian 32-bit words (first beat, number of beats) and then its beats, most
//   significant byte first ($fread);
//   a cycle with dump_stb high writes beats [dump_first, dump_last] to +dram_dump=FILE,
//   least significant byte first ($fwrite's %u).
// Every write must land in the output region the testbench declares: with guard_writes high,
// a write beat outside [write_first, write_last] (beats, inclusive) stops the simulation with
// a fatal error naming the address, so a stray write anywhere in DRAM cannot go unnoticed.
// Command payloads are the accelerator's DramCommand: {length[15:0], addr[31:0]} in beats.
module dram_model #(
    parameter int BUS_BYTES = 16,
    parameter int DEPTH = 1 << 20,
    parameter int QUEUE = 32
) (
    input  logic                   clk,
    input  logic                   rst,
    input  logic [15:0]            cfg_latency,
    input  logic [15:0]            cfg_gap,
    input  logic [7:0]             cfg_stall,
    input  logic [31:0]            cfg_seed,
    input  logic                   load_stb,
    input  logic                   dump_stb,
    input  logic [31:0]            dump_first,
    input  logic [31:0]            dump_last,
    input  logic                   guard_writes,
    input  logic [31:0]            write_first,
    input  logic [31:0]            write_last,
    input  logic                   read_cmd_valid,
    output logic                   read_cmd_ready,
    input  logic [47:0]            read_cmd_payload,
    output logic                   read_data_valid,
    input  logic                   read_data_ready,
    output logic [8*BUS_BYTES-1:0] read_data_payload,
    input  logic                   write_cmd_valid,
    output logic                   write_cmd_ready,
    input  logic [47:0]            write_cmd_payload,
    input  logic                   write_data_valid,
    output logic                   write_data_ready,
    input  logic [8*BUS_BYTES-1:0] write_data_payload
);
    localparam int QBITS = $clog2(QUEUE);

    logic [8*BUS_BYTES-1:0] mem [0:DEPTH-1];
    string load_path, dump_path;
    initial begin
        if (!$value$plusargs("dram_load=%s", load_path)) load_path = "dram_load.bin";
        if (!$value$plusargs("dram_dump=%s", dump_path)) dump_path = "dram_dump.bin";
    end

    task automatic load_image();
        integer fd, got;
        logic [63:0] header;
        fd = $fopen(load_path, "rb");
        if (fd == 0) $fatal(1, "dram_model: cannot open %s", load_path);
        while ($fread(header, fd) == 8) begin
            got = $fread(mem, fd, header[63:32], header[31:0]);
            if (got != header[31:0] * BUS_BYTES)
                $fatal(1, "dram_model: %s ends inside the region at beat %0d", load_path,
                       header[63:32]);
        end
        $fclose(fd);
    endtask

    task automatic dump_image();
        integer fd;
        fd = $fopen(dump_path, "wb");
        if (fd == 0) $fatal(1, "dram_model: cannot open %s", dump_path);
        for (logic [31:0] beat = dump_first; beat <= dump_last; beat++)
            $fwrite(fd, "%u", mem[beat]);
        $fclose(fd);
    endtask

    always @(posedge clk) begin
        if (load_stb) load_image();
        if (dump_stb) dump_image();
    end

    logic [31:0] now, lfsr;
    always_ff @(posedge clk) begin
        if (rst) begin
            now  <= 0;
            lfsr <= (cfg_seed == 0) ? 32'h1 : cfg_seed;
        end else begin
            now  <= now + 1;
            lfsr <= {lfsr[30:0], lfsr[31] ^ lfsr[21] ^ lfsr[1] ^ lfsr[0]};
        end
    end
    wire stall_read  = lfsr[7:0]  < cfg_stall;
    wire stall_write = lfsr[15:8] < cfg_stall;

    // Read side: a queue of (addr, length, due cycle); the head is served once due.
    logic [31:0] rq_addr [0:QUEUE-1];
    logic [15:0] rq_len  [0:QUEUE-1];
    logic [31:0] rq_due  [0:QUEUE-1];
    logic [QBITS:0] rq_count;
    logic [QBITS-1:0] rq_head, rq_tail;
    logic [31:0] r_addr;
    logic [15:0] r_left, r_wait;

    assign read_cmd_ready = rq_count != QUEUE;
    assign read_data_valid = r_left != 0 && r_wait == 0 && !stall_read;
    assign read_data_payload = mem[r_addr];
    wire r_last = read_data_valid && read_data_ready && r_left == 1;
    wire r_pop = (r_left == 0 || r_last) && rq_count != 0 && $signed(now - rq_due[rq_head]) >= 0;
    wire r_push = read_cmd_valid && read_cmd_ready;

    always_ff @(posedge clk) begin
        if (rst) begin
            rq_count <= 0; rq_head <= 0; rq_tail <= 0; r_left <= 0; r_wait <= 0;
        end else begin
            if (r_push) begin
                rq_addr[rq_tail] <= read_cmd_payload[31:0];
                rq_len[rq_tail]  <= read_cmd_payload[47:32];
                rq_due[rq_tail]  <= now + {16'b0, cfg_latency};
                rq_tail <= rq_tail + 1'b1;
            end
            rq_count <= rq_count + (r_push ? 1 : 0) - (r_pop ? 1 : 0);
            if (read_data_valid && read_data_ready) begin
                r_addr <= r_addr + 1;
                r_left <= r_left - 1;
                r_wait <= cfg_gap;
            end else if (r_wait != 0) begin
                r_wait <= r_wait - 1;
            end
            if (r_pop) begin
                r_addr <= rq_addr[rq_head];
                r_left <= rq_len[rq_head];
                rq_head <= rq_head + 1'b1;
            end
        end
    end

    // Write side: a queue of (addr, length); beats are accepted for the head command.
    logic [31:0] wq_addr [0:QUEUE-1];
    logic [15:0] wq_len  [0:QUEUE-1];
    logic [QBITS:0] wq_count;
    logic [QBITS-1:0] wq_head, wq_tail;
    logic [31:0] w_addr;
    logic [15:0] w_left, w_wait;

    assign write_cmd_ready = wq_count != QUEUE;
    assign write_data_ready = w_left != 0 && w_wait == 0 && !stall_write;
    wire w_last = write_data_valid && write_data_ready && w_left == 1;
    wire w_pop = (w_left == 0 || w_last) && wq_count != 0;
    wire w_push = write_cmd_valid && write_cmd_ready;

    always_ff @(posedge clk) begin
        if (rst) begin
            wq_count <= 0; wq_head <= 0; wq_tail <= 0; w_left <= 0; w_wait <= 0;
        end else begin
            if (w_push) begin
                wq_addr[wq_tail] <= write_cmd_payload[31:0];
                wq_len[wq_tail]  <= write_cmd_payload[47:32];
                wq_tail <= wq_tail + 1'b1;
            end
            wq_count <= wq_count + (w_push ? 1 : 0) - (w_pop ? 1 : 0);
            if (write_data_valid && write_data_ready) begin
                if (guard_writes && (w_addr < write_first || w_addr > write_last))
                    $fatal(1, "dram_model: write to beat %0d, outside the output region [%0d, %0d]",
                           w_addr, write_first, write_last);
                mem[w_addr] <= write_data_payload;
                w_addr <= w_addr + 1;
                w_left <= w_left - 1;
                w_wait <= cfg_gap;
            end else if (w_wait != 0) begin
                w_wait <= w_wait - 1;
            end
            if (w_pop) begin
                w_addr <= wq_addr[wq_head];
                w_left <= wq_len[wq_head];
                wq_head <= wq_head + 1'b1;
            end
        end
    end
endmodule
