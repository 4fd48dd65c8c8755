using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StreamBert.Engine.Inference;
using StreamBert.Processor.Hosting;

namespace StreamBert.Processor.Tests;

/// <summary><c>Processor:Precision</c> as the host binds and validates it on start.</summary>
public sealed class PrecisionOptionTests
{
    private static ProcessorOptions Bind(string? precision)
    {
        var settings = new Dictionary<string, string?> { ["Processor:Registry"] = "/tmp/registry" };
        if (precision is not null)
        {
            settings["Processor:Precision"] = precision;
        }

        var services = new ServiceCollection()
            .AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(settings).Build());
        services.AddOptions<ProcessorOptions>().BindConfiguration("Processor").ValidateDataAnnotations();
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<ProcessorOptions>>().Value;
    }

    [Theory]
    [InlineData(null, EncoderPrecision.Fp32)]
    [InlineData("fp32", EncoderPrecision.Fp32)]
    [InlineData("int8", EncoderPrecision.Int8)]
    [InlineData("INT8", EncoderPrecision.Int8)]
    public void Precision_Configured_ReachesTheEncoderSessions(string? configured, EncoderPrecision expected) =>
        Assert.Equal(expected, ModelLoader.SessionSettingsOf(Bind(configured)).Precision);

    [Fact]
    public void Precision_UnknownValue_StartFailsNamingTheAcceptedValues()
    {
        var error = Assert.Throws<OptionsValidationException>(() => Bind("int4"));

        Assert.Contains("Processor:Precision must be fp32 or int8.", error.Message, StringComparison.Ordinal);
    }
}
