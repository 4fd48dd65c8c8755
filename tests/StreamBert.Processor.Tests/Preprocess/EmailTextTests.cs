using System.Diagnostics;
using StreamBert.Service.Inputs;

namespace StreamBert.Processor.Tests.Preprocess;

public sealed class EmailTextTests
{
    [Theory]
    [InlineData(EmailView.SubjectBody, "Win big\nClick here now")]
    [InlineData(EmailView.Body, "Click here now")]
    [InlineData(EmailView.Subject, "Win big")]
    [InlineData(EmailView.BodySubject, "Click here now\nWin big")]
    [InlineData(EmailView.SubjectNewest, "Win big\nClick here now")]
    public void Compose_SubjectAndBody_EachViewInItsOrder(EmailView view, string expected)
    {
        Assert.Equal(expected, EmailText.Compose("Win big", "Click here now", view));
    }

    [Theory]
    [InlineData(EmailView.SubjectBody)]
    [InlineData(EmailView.Subject)]
    [InlineData(EmailView.BodySubject)]
    [InlineData(EmailView.SubjectNewest)]
    public void Compose_NoSubject_TheBody(EmailView view)
    {
        Assert.Equal("just a body", EmailText.Compose("  ", "just a body", view));
        Assert.Equal("just a body", EmailText.Compose(null, "just a body", view));
    }

    [Fact]
    public void Compose_EmptyBodyBodyView_TheSubjectRatherThanNothing()
    {
        Assert.Equal("only a subject", EmailText.Compose("only a subject", " ", EmailView.Body));
    }

    [Fact]
    public void Served_IsTheParsersView()
    {
        var parsed = InputParsers.ParseMessage("""{"id":"m1","subject":"Lunch","body":"Noon?\n> quoted line"}"""u8, null, 64 * 1024);

        Assert.Equal(EmailText.Compose("Lunch", "Noon?\n> quoted line", EmailText.Served), parsed.Text);
    }

    [Theory]
    [InlineData("Sounds good.\n\n-----Original Message-----\nFrom: a@b.c\nold text", "Sounds good.")]
    [InlineData("fyi .\n- - - - - - - - - - - - - - - - - - - - - - forwarded by lauri a allen / hou / ect on 12 / 14 / 99\nold text", "fyi .")]
    [InlineData("Yes, see you then.\nOn Mon, 3 Jan 2000 at 10:00, Ann Smith <ann@x.org> wrote:\n> Lunch?", "Yes, see you then.")]
    [InlineData("Agreed.\n> your point\n>> their point\nThanks", "Agreed.\nThanks")]
    public void NewestPart_ReplyChains_CutAtTheFirstSeparatorQuotedLinesDropped(string body, string expected)
    {
        Assert.Equal(expected, EmailText.NewestPart(body));
    }

    [Fact]
    public void NewestPart_BareForward_TheWholeBody()
    {
        const string body = "-----Original Message-----\nFrom: a@b.c\nthe forwarded content";

        Assert.Equal(body, EmailText.NewestPart(body));
    }

    [Fact]
    public void NewestPart_NoChain_Unchanged()
    {
        Assert.Equal("one line\nanother - - - line", EmailText.NewestPart("one line\nanother - - - line"));
    }

    [Fact]
    public void NewestPart_HugeAdversarialLine_LinearTime()
    {
        // Dashes without the closing words, and a long "on ... " without "wrote:": a backtracking matcher would
        // retry each start; the body is untrusted, so the match must stay linear.
        var body = "- " + string.Concat(Enumerable.Repeat("- ", 500_000)) + "\non " + new string('x', 1_000_000);
        var clock = Stopwatch.StartNew();

        var newest = EmailText.NewestPart(body);

        Assert.Equal(body.Trim(), newest);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"{clock.Elapsed} for {body.Length} characters");
    }

    [Fact]
    public void Names_EveryViewOnceRoundTrips()
    {
        Assert.Equal(Enum.GetValues<EmailView>().Length, EmailText.Names.Count);
        Assert.All(Enum.GetValues<EmailView>(), v => Assert.Equal(v, EmailText.Names[EmailText.NameOf(v)]));
    }
}
