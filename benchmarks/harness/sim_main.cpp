// Plain Verilator harness for `sim_top`: no Python, no cocotb, no VPI calls.
//
// It clocks the same Verilated model the cocotb runner builds and plays a small plan file
// written by benchmarks/sim_speed.py, one command a line ('#' starts a comment):
//
//   cfg LATENCY GAP STALL SEED   set the DRAM model's timing inputs
//   reset                        rst high for 3 cycles, then one cycle low (as testbench/tb.py)
//   load                         one cycle of load_stb: the DRAM reads +dram_load=FILE
//   guard FIRST LAST             from now on a DRAM write outside beats FIRST..LAST is fatal
//   write ADDR VALUE             one register-bus write cycle
//   start ADDR VALUE TIMEOUT     a register write, then clock until `done` (timed), at most
//                                TIMEOUT cycles; prints compute_cycles, compute_seconds (wall)
//                                and compute_cpu_seconds (this process's CPU time)
//   read NAME ADDR WORDS         read WORDS consecutive registers (low word first) and print
//                                "reg NAME VALUE"
//   dump FIRST LAST              one cycle of dump_stb: the DRAM writes beats FIRST..LAST to
//                                +dram_dump=FILE
//
// Plusargs (+dram_load=, +dram_dump=) reach the DRAM model through Verilated::commandArgs.
// Usage: sim_top_harness PLAN_FILE [--stale-eval] +dram_load=FILE +dram_dump=FILE
//
// --stale-eval is a diagnostic: it evaluates the model once more before every clock edge, as
// cocotb's Verilator main loop does when the clock arrives as a vpiInertialDelay write (the
// first eval_step of each time step runs before doInertialPuts applies the new clock value).

#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "Vtop.h"
#include "verilated.h"

namespace {

struct Harness {
    std::unique_ptr<VerilatedContext> context;
    std::unique_ptr<Vtop> top;
    uint64_t cycles = 0;
    bool stale_eval = false;

    Harness(int argc, char** argv, bool stale)
        : context(new VerilatedContext), stale_eval(stale) {
        context->commandArgs(argc, argv);
        top.reset(new Vtop(context.get(), ""));
        top->clk = 0;
        top->rst = 0;
        top->bus_addr = 0;
        top->bus_w_data = 0;
        top->bus_w_stb = 0;
        top->load_stb = 0;
        top->dump_stb = 0;
        top->dump_first = 0;
        top->dump_last = 0;
        top->guard_writes = 0;
        top->eval();
    }

    ~Harness() { top->final(); }

    // One clock cycle ending just after the rising edge, so inputs set by the caller are
    // sampled at the next rising edge (as cocotb's writes after `await RisingEdge(clk)`).
    void cycle() {
        context->timeInc(1);
        if (stale_eval) top->eval();
        top->clk = 0;
        top->eval();
        context->timeInc(1);
        if (stale_eval) top->eval();
        top->clk = 1;
        top->eval();
        ++cycles;
    }

    void write(uint32_t addr, uint32_t value) {
        top->bus_addr = addr;
        top->bus_w_data = value;
        top->bus_w_stb = 1;
        cycle();
        top->bus_w_stb = 0;
    }

    uint32_t read(uint32_t addr) {
        top->bus_addr = addr;
        cycle();
        cycle();
        return top->bus_r_data;
    }
};

int fail(const std::string& message) {
    std::fprintf(stderr, "sim_top_harness: %s\n", message.c_str());
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || argv[1][0] == '+' || argv[1][0] == '-') {
        return fail("usage: sim_top_harness PLAN_FILE [--stale-eval] +dram_load=FILE "
                    "+dram_dump=FILE");
    }
    std::ifstream plan(argv[1]);
    if (!plan) return fail(std::string("cannot open plan file ") + argv[1]);
    bool stale = false;
    for (int i = 2; i < argc; ++i) stale = stale || std::string(argv[i]) == "--stale-eval";

    Harness h(argc, argv, stale);
    std::string line;
    int line_no = 0;
    while (std::getline(plan, line)) {
        ++line_no;
        std::istringstream in(line.substr(0, line.find('#')));
        std::string op;
        if (!(in >> op)) continue;
        if (op == "cfg") {
            uint64_t latency, gap, stall, seed;
            if (!(in >> latency >> gap >> stall >> seed)) return fail("bad cfg line");
            h.top->cfg_latency = latency;
            h.top->cfg_gap = gap;
            h.top->cfg_stall = stall;
            h.top->cfg_seed = seed;
        } else if (op == "reset") {
            h.top->rst = 1;
            for (int i = 0; i < 3; ++i) h.cycle();
            h.top->rst = 0;
            h.cycle();
        } else if (op == "load") {
            h.top->load_stb = 1;
            h.cycle();
            h.top->load_stb = 0;
        } else if (op == "guard") {
            uint64_t first, last;
            if (!(in >> first >> last)) return fail("bad guard line");
            h.top->write_first = first;
            h.top->write_last = last;
            h.top->guard_writes = 1;
        } else if (op == "write") {
            uint64_t addr, value;
            if (!(in >> addr >> value)) return fail("bad write line");
            h.write(addr, value);
        } else if (op == "start") {
            uint64_t addr, value, timeout;
            if (!(in >> addr >> value >> timeout)) return fail("bad start line");
            h.write(addr, value);
            const uint64_t first = h.cycles;
            const auto t0 = std::chrono::steady_clock::now();
            const std::clock_t cpu0 = std::clock();
            while (!h.top->done) {
                if (h.cycles - first >= timeout) {
                    return fail("timeout: done not raised within " + std::to_string(timeout) +
                                " cycles");
                }
                h.cycle();
            }
            const auto t1 = std::chrono::steady_clock::now();
            const std::clock_t cpu1 = std::clock();
            std::printf("compute_cycles %" PRIu64 "\n", h.cycles - first);
            std::printf("compute_seconds %.6f\n", std::chrono::duration<double>(t1 - t0).count());
            std::printf("compute_cpu_seconds %.6f\n",
                        static_cast<double>(cpu1 - cpu0) / CLOCKS_PER_SEC);
            h.cycle();  // as the testbench: one more edge before reading STATUS
        } else if (op == "read") {
            std::string name;
            uint64_t addr, words;
            if (!(in >> name >> addr >> words)) return fail("bad read line");
            uint64_t value = 0;
            for (uint64_t i = 0; i < words; ++i) {
                value |= static_cast<uint64_t>(h.read(addr + i)) << (32 * i);
            }
            std::printf("reg %s %" PRIu64 "\n", name.c_str(), value);
        } else if (op == "dump") {
            uint64_t first, last;
            if (!(in >> first >> last)) return fail("bad dump line");
            h.top->dump_first = first;
            h.top->dump_last = last;
            h.top->dump_stb = 1;
            h.cycle();
            h.top->dump_stb = 0;
            h.cycle();
        } else {
            return fail("plan line " + std::to_string(line_no) + ": unknown command " + op);
        }
    }
    std::printf("total_cycles %" PRIu64 "\n", h.cycles);
    std::fflush(stdout);
    return 0;
}
