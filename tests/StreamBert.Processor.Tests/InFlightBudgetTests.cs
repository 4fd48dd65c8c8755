using Confluent.Kafka;
using StreamBert.Processor.Ingest;

namespace StreamBert.Processor.Tests;

public sealed class InFlightBudgetTests
{
    private static InputRecord Record(int valueBytes, long offset = 0) =>
        new(new TopicPartitionOffset("messages", 0, offset), null, new byte[valueBytes], [], 0, 0);

    [Fact]
    public void IsFull_BytesReachTheLimit_FullUntilBelowHalf()
    {
        var budget = new InFlightBudget(maxBytes: 10_000, TimeSpan.FromHours(1), minTokens: 1);
        var records = Enumerable.Range(0, 20).Select(i => Record(744, i)).ToList(); // 1000 bytes each with overhead
        Assert.Equal(1000, InFlightBudget.SizeOf(records[0]));

        foreach (var record in records.Take(9))
        {
            budget.Admit(record);
        }

        Assert.False(budget.IsFull);
        budget.Admit(records[9]);
        Assert.True(budget.IsFull);

        // Hysteresis: releases make room, but ingest resumes only once fewer than half the bytes (5 000) remain.
        foreach (var record in records.Take(5))
        {
            budget.Release(record);
            Assert.False(budget.IsBelowHalf);
        }

        budget.Release(records[5]);
        Assert.True(budget.IsBelowHalf);
        Assert.Equal(10_000, budget.PeakBytes);
    }

    [Fact]
    public void TokenLimit_EngineRateMeasured_OneSecondOfWorkAtThatRate()
    {
        var budget = new InFlightBudget(maxBytes: long.MaxValue / 4, TimeSpan.FromSeconds(1), minTokens: 100, initialTokensPerSecond: 1000);
        Assert.Equal(1000, budget.TokenLimit);

        for (var i = 0; i < 50; i++)
        {
            budget.Ran(5000, TimeSpan.FromSeconds(0.5));
        }

        Assert.Equal(10_000, budget.TokenLimit, tolerance: 1);
        Assert.Equal(10_000, budget.TokensPerSecond, precision: 3);
    }

    [Fact]
    public async Task TokenLimit_EngineWaitsForWorkBetweenBatches_RateIsTheEnginesOwn()
    {
        // Gaps between batches (the feed paused by this very budget) must not lower the rate: that spiral starved the
        // engine to 40 % of its throughput.
        var budget = new InFlightBudget(maxBytes: long.MaxValue / 4, TimeSpan.FromSeconds(1), minTokens: 100, initialTokensPerSecond: 1000);
        var record = Record(4000);
        for (var i = 0; i < 5; i++)
        {
            budget.Admit(record);
            budget.Tokenized(record, 2000);
            await Task.Delay(100);
            budget.Ran(1000, TimeSpan.FromMilliseconds(10));
        }

        Assert.Equal(100_000, budget.TokensPerSecond, precision: 3);
    }

    [Fact]
    public void TokenLimit_SlowEngine_NeverBelowTheFloor()
    {
        var budget = new InFlightBudget(maxBytes: 1 << 20, TimeSpan.FromSeconds(1), minTokens: 8192);
        budget.Ran(10, TimeSpan.FromSeconds(10));

        Assert.Equal(8192, budget.TokenLimit);
    }

    [Fact]
    public void IsFull_TokensFromEstimateThenActual_FollowsTheRealCount()
    {
        var budget = new InFlightBudget(maxBytes: 1 << 30, TimeSpan.FromSeconds(1), minTokens: 1000, initialTokensPerSecond: 1000);
        var record = Record(400);
        budget.Admit(record);
        Assert.Equal(InFlightBudget.EstimatedTokens(record), budget.Snapshot().Tokens);

        budget.Tokenized(record, 1200);
        Assert.Equal(1200, budget.Snapshot().Tokens);
        Assert.True(budget.IsFull);

        budget.Ran(1200, TimeSpan.FromSeconds(1.2));
        budget.Release(record);
        var empty = budget.Snapshot();
        Assert.Equal(default, empty with { Work = TimeSpan.Zero });
        Assert.True(budget.IsBelowHalf);
    }
}
