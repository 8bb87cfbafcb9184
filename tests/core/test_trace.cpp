// The trace reader (core/trace): CSV by its header's column names, Azure's dates, BurstGPT's extra columns
// and failed calls, Mooncake's JSON Lines and their chained hash ids; and the prefix cache replaying those
// ids. Expected values are worked out by hand in the comments.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <sstream>
#include <stdexcept>

#include "headroom/core/trace.hpp"
#include "loop_fixtures.hpp"

using namespace headroom;

namespace {

Trace parse(const std::string& text, int64_t block_tokens = MOONCAKE_BLOCK_TOKENS) {
    std::istringstream in(text);
    return parse_trace(in, "t", block_tokens);
}

std::string error_of(const std::string& text, int64_t block_tokens = MOONCAKE_BLOCK_TOKENS) {
    try {
        (void)parse(text, block_tokens);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return "no error";
}

// The trace `text` is refused with an error that says `needle`.
void expect_error(const std::string& text, const std::string& needle) {
    const std::string e = error_of(text);
    EXPECT_NE(e.find(needle), std::string::npos) << "error: " << e << "\nexpected: " << needle;
}

// One Mooncake JSONL row (`ids`: its hash_ids, none if empty).
std::string mooncake_row(double ms, int64_t input, int64_t output, const std::string& ids = "") {
    std::string row =
        fmt::format("{{\"timestamp\": {:g}, \"input_length\": {}, \"output_length\": {}", ms, input, output);
    if (!ids.empty()) row += ", \"hash_ids\": [" + ids + "]";
    return row + "}\n";
}

// Four 1,024-token prompts of 2-token answers, 1 s apart, whose trace blocks (512 tokens) share: row 2 the
// first block of row 1, row 3 all of row 1, row 4 nothing (its second id follows another first block).
const std::string FOUR_PROMPTS = mooncake_row(0, 1024, 2, "1, 2") + mooncake_row(1000, 1024, 2, "1, 3") +
                                 mooncake_row(2000, 1024, 2, "1, 2") + mooncake_row(3000, 1024, 2, "9, 2");

// A replay of the trace with its blocks, and a replica that caches prefixes: KV blocks of 16 tokens, room
// for all, prompts up to 4,096 tokens.
WorkloadSpec with_blocks(const Trace& t) {
    WorkloadSpec w = headroom::testing::trace(t.rows);
    w.trace_blocks = t.blocks;
    w.trace_block_tokens = t.block_tokens;
    return w;
}
ServingConfig caching() {
    ServingConfig c;
    c.scheduler.num_blocks = 1000;
    c.scheduler.block_size = 16;
    c.scheduler.max_model_len = 4096;
    c.scheduler.prefix_caching = true;
    return c;
}

}  // namespace

TEST(Trace, AzureDatesReplayFromTheFirstRow) {
    // The first rows of Azure's AzureLLMInferenceTrace_conv.csv; Vidur's splitwise_conv.csv, derived from it,
    // has the second request at 4.314579 s = 50.9951690 - 46.6805900. The third: 18:17:00 - 18:15:46.68059
    // = 73.31941 s.
    const Trace t = parse(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:15:46.6805900,374,44\n"
        "2023-11-16 18:15:50.9951690,396,109\r\n"
        "2023-11-16 18:17:00.0000000,2000,50\n");
    ASSERT_EQ(t.rows.size(), 3u);
    EXPECT_EQ(t.format, "CSV (TIMESTAMP, ContextTokens, GeneratedTokens)");
    EXPECT_DOUBLE_EQ(t.rows[0].arrived_at_s, 0.0);
    EXPECT_NEAR(t.rows[1].arrived_at_s, 4.314579, 1e-9);
    EXPECT_NEAR(t.rows[2].arrived_at_s, 73.31941, 1e-9);
    EXPECT_EQ(t.rows[1].prompt_tokens, 396);
    EXPECT_EQ(t.rows[1].output_tokens, 109);
    EXPECT_TRUE(t.blocks.empty());
}

TEST(Trace, DatesCountCalendarDaysAndOffsets) {
    // 1970-01-01 to 2000-01-01 is 10,957 days = 946,684,800 s (the Unix time of 2000-01-01).
    EXPECT_DOUBLE_EQ(
        parse("TIMESTAMP,ContextTokens,GeneratedTokens\n1970-01-01 00:00:00,1,1\n2000-01-01T00:00:00Z,1,1\n")
            .rows[1]
            .arrived_at_s,
        946684800.0);
    // 2024 is a leap year: 23:59:59 on 28 February to 00:00:01 on 29 February is 2 s, and to 1 March 86,402
    // s.
    const Trace leap = parse(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2024-02-28 23:59:59,1,1\n2024-02-29 00:00:01,1,1\n"
        "2024-03-01 00:00:01,1,1\n");
    EXPECT_DOUBLE_EQ(leap.rows[1].arrived_at_s, 2.0);
    EXPECT_DOUBLE_EQ(leap.rows[2].arrived_at_s, 86402.0);
    // 01:00:00.5 at +01:00 is 00:00:00.5 UTC: half a second after 00:00:00 UTC.
    EXPECT_DOUBLE_EQ(parse("TIMESTAMP,ContextTokens,GeneratedTokens\n2024-05-10 "
                           "00:00:00+00:00,1,1\n2024-05-10 01:00:00.5+01:00,1,1\n")
                         .rows[1]
                         .arrived_at_s,
                     0.5);
    expect_error("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-02-29 00:00:00,1,1\n",
                 "line 2: TIMESTAMP: expected a date");
    // rows out of order replay sorted, from the earliest: 18:15:45 at 0 s, 18:15:46 at 1 s, 18:15:47.5 at 2.5
    // s
    const Trace late = parse(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,1\n2023-11-16 18:15:45,2,1\n"
        "2023-11-16 18:15:47.5,3,1\n");
    EXPECT_EQ(late.reordered, 1);
    ASSERT_EQ(late.rows.size(), 3u);
    EXPECT_EQ(late.rows[0].prompt_tokens, 2);
    EXPECT_DOUBLE_EQ(late.rows[0].arrived_at_s, 0.0);
    EXPECT_DOUBLE_EQ(late.rows[1].arrived_at_s, 1.0);
    EXPECT_DOUBLE_EQ(late.rows[2].arrived_at_s, 2.5);
    expect_error("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1,1\n5,1,1\n",
                 "line 3: TIMESTAMP");
}

TEST(Trace, BurstGptColumnsAndFailedCallsAreSkipped) {
    // BurstGPT: Timestamp in seconds, extra columns ignored; the call with 0 request tokens is skipped and
    // counted, and its time still has to keep the order.
    const Trace t = parse(
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
        "5,ChatGPT,472,18,490,Conversation log\n"
        "7,ChatGPT,0,20,20,Conversation log\n"
        "45,GPT-4,1087,230,1317,Conversation log\n");
    ASSERT_EQ(t.rows.size(), 2u);
    EXPECT_EQ(t.skipped, 1);
    EXPECT_DOUBLE_EQ(t.rows[1].arrived_at_s, 45.0);
    EXPECT_EQ(t.rows[1].prompt_tokens, 1087);
    EXPECT_EQ(t.rows[1].output_tokens, 230);
    expect_error("Timestamp,Request tokens,Response tokens\n5,0,1\n",
                 "no rows to replay: all 1 have 0 prompt tokens");
}

TEST(Trace, ColumnsAreFoundByNameInAnyOrderAndCase) {
    const Trace t = parse("id,num_decode_tokens,\"ARRIVED_AT\",Num_Prefill_Tokens\n\"a,b\",7,1.5,300\n");
    ASSERT_EQ(t.rows.size(), 1u);
    EXPECT_DOUBLE_EQ(t.rows[0].arrived_at_s, 1.5);
    EXPECT_EQ(t.rows[0].prompt_tokens, 300);
    EXPECT_EQ(t.rows[0].output_tokens, 7);
    expect_error("arrived_at,timestamp,num_prefill_tokens,num_decode_tokens\n",
                 "line 1: timestamp: a second column for the arrival time (after arrived_at)");
    expect_error("0.0,374,44\n", "line 1: expected a header naming the columns; none gives the arrival time");
    expect_error("arrived_at,num_prefill_tokens,num_decode_tokens\n0,10\n",
                 "line 2: num_decode_tokens: missing");
}

TEST(Trace, MooncakeHashIdsChainThroughThePrompt) {
    // Timestamps in ms. Row 2 agrees with row 1 on its first block only; row 3 repeats row 1; row 4 names
    // block 2 after another first block, so none of its blocks is row 1's (a block's id covers all before
    // it).
    const Trace t = parse(
        "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 10, \"hash_ids\": [1, 2]}\n"
        "{\"timestamp\": 5000, \"input_length\": 1024, \"output_length\": 10, \"hash_ids\": [1, 3]}\n"
        "\n"
        "{\"timestamp\": 10000.5, \"input_length\": 1024, \"output_length\": 10, \"hash_ids\": [1, 2], "
        "\"extra\": 1}\n"
        "{\"timestamp\": 15000, \"input_length\": 700, \"output_length\": 0, \"hash_ids\": [9, 2]}\n"
        "{\"timestamp\": 16000, \"input_length\": 10, \"output_length\": 1}\n");
    ASSERT_EQ(t.rows.size(), 5u);
    EXPECT_EQ(t.format, "Mooncake JSONL (hash_ids, blocks of 512 tokens)");
    EXPECT_EQ(t.block_tokens, 512);
    EXPECT_DOUBLE_EQ(t.rows[2].arrived_at_s, 10.0005);
    const auto& a = *t.blocks[0];
    const auto& b = *t.blocks[1];
    const auto& c = *t.blocks[2];
    const auto& d = *t.blocks[3];
    EXPECT_EQ(a[0], b[0]);
    EXPECT_NE(a[1], b[1]);
    EXPECT_EQ(a, c);
    EXPECT_NE(a[0], d[0]);
    EXPECT_NE(a[1], d[1]);
    ASSERT_EQ(t.blocks.size(), 5u);
    EXPECT_EQ(t.blocks[4], nullptr);
    EXPECT_EQ(t.rows[3].output_tokens, 0);
}

TEST(Trace, RowsOutOfOrderReplaySortedWithTheirBlocks) {
    // Seconds stay as written (no shift); rows of one instant keep the file's order; blocks follow their
    // rows.
    const Trace t = parse(
        "{\"timestamp\": 3000, \"input_length\": 600, \"output_length\": 1, \"hash_ids\": [5, 6]}\n"
        "{\"timestamp\": 1000, \"input_length\": 10, \"output_length\": 1, \"hash_ids\": [7]}\n"
        "{\"timestamp\": 1000, \"input_length\": 20, \"output_length\": 1}\n");
    EXPECT_EQ(t.reordered, 2);
    ASSERT_EQ(t.rows.size(), 3u);
    EXPECT_EQ(t.rows[0].prompt_tokens, 10);
    EXPECT_EQ(t.rows[1].prompt_tokens, 20);
    EXPECT_EQ(t.rows[2].prompt_tokens, 600);
    EXPECT_DOUBLE_EQ(t.rows[0].arrived_at_s, 1.0);
    ASSERT_EQ(t.blocks.size(), 3u);
    EXPECT_EQ(t.blocks[0]->size(), 1u);
    EXPECT_EQ(t.blocks[1], nullptr);
    EXPECT_EQ(t.blocks[2]->size(), 2u);
}

TEST(Trace, MooncakeLinesAreChecked) {
    // 3 ids of 512 tokens need more than 1,024 tokens (ceil(1024 / 512) = 2); with blocks of 256 they fit.
    const std::string three =
        "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 1, \"hash_ids\": [1, 2, 3]}\n";
    expect_error(three,
                 "line 1: hash_ids: 3 blocks of 512 tokens are more than the 1024-token prompt fills (2)");
    EXPECT_EQ(parse(three, 256).blocks[0]->size(), 3u);
    expect_error(
        "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 1, "
        "\"timestamp\": 2}\n",
        "line 2: timestamp: duplicate key");
    expect_error("{\"timestamp\": 0, \"input_length\": 5}\n", "line 1: output_length: missing");
    expect_error("{\"timestamp\": 0, \"input_length\": 5.5, \"output_length\": 1}\n",
                 "line 1: input_length: expected a whole number");
    expect_error("{\"timestamp\": -1, \"input_length\": 5, \"output_length\": 1}\n",
                 "line 1: timestamp: expected a number >= 0");
    expect_error("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [\"x\"]}\n",
                 "line 1: hash_ids: expected whole numbers");
    expect_error("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n[1]\n",
                 "line 2: expected one JSON object a line");
    expect_error("{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1}\n{\"timestamp\": 1,\n",
                 "line 2: not valid JSON");
}

TEST(Trace, ThePrefixCacheSharesTheBlocksMooncakeIdsShare) {
    // Blocks of 16 tokens, trace blocks of 512, 1,024-token prompts, one request at a time (10 ms steps):
    // - row 1 computes everything;
    // - row 2 shares trace block 1 only: 512 tokens = 32 KV blocks from cache;
    // - row 3 repeats row 1: every full block but the one holding the last prompt token, whose logits must be
    //   computed (vLLM's rule): (1024 - 1) / 16 = 63 blocks, 1,008 tokens;
    // - row 4 shares no chain: 0.
    // A row without a prompt (skipped) comes first, so that the blocks must stay with their rows.
    const Trace t = parse(mooncake_row(0, 0, 2, " ") + FOUR_PROMPTS);
    ASSERT_EQ(t.skipped, 1);
    ASSERT_EQ(t.blocks.size(), t.rows.size());
    const WorkloadSpec w = with_blocks(t);
    const ServingConfig c = caching();
    const std::vector<RequestRecord> r = headroom::testing::run_ten_ms(w, c).requests;
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[0].prefix_hit_tokens, 0);
    EXPECT_EQ(r[1].prefix_hit_tokens, 512);
    EXPECT_EQ(r[2].prefix_hit_tokens, 1008);
    EXPECT_EQ(r[3].prefix_hit_tokens, 0);
}

TEST(Trace, ClosedLoopUsersTakeTheRowsInOrderWithTheirBlocks) {
    // The rows of the test above, now taken by closed-loop users as a load generator replays a dataset at a
    // fixed concurrency: the rows' times are ignored, each user takes the next row when its last request
    // ends, and the run ends when the rows run out (no duration given). One user: every request is a
    // 1,024-token prefill step (10 ms, within the default token budget) and one decode step (10 ms) for its
    // second token, so request i arrives at 20 i ms, and the prefix cache sees the rows' blocks as the replay
    // above did: 0, 512, 1,008, 0 tokens from cache.
    WorkloadSpec w = with_blocks(parse(FOUR_PROMPTS));
    w.arrival = "closed_loop";
    w.users = 1;
    const ServingConfig c = caching();
    const std::vector<RequestRecord> r = headroom::testing::run_ten_ms(w, c).requests;
    ASSERT_EQ(r.size(), 4u);
    const int64_t hits[] = {0, 512, 1008, 0};
    for (size_t i = 0; i < r.size(); ++i) {
        EXPECT_EQ(r[i].session, static_cast<int64_t>(i));
        EXPECT_NEAR(r[i].arrival_s, 0.02 * static_cast<double>(i), 1e-12);
        EXPECT_NEAR(r[i].finish_s, 0.02 * static_cast<double>(i + 1), 1e-12);
        EXPECT_EQ(r[i].prefix_hit_tokens, hits[i]);
    }
    // Two users start at once on rows 1 and 2 (one 2,048-token prefill step, 10 ms, then a decode step) and
    // take rows 3 and 4 at 20 ms; row 3 repeats row 1, which is cached by then: 1,008 tokens.
    w.users = 2;
    const std::vector<RequestRecord> two = headroom::testing::run_ten_ms(w, c).requests;
    ASSERT_EQ(two.size(), 4u);
    EXPECT_NEAR(two[2].arrival_s, 0.02, 1e-12);
    EXPECT_NEAR(two[3].arrival_s, 0.02, 1e-12);
    EXPECT_EQ(two[2].prefix_hit_tokens, 1008);
    EXPECT_EQ(two[3].prefix_hit_tokens, 0);
}
