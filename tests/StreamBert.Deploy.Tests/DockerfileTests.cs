using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace StreamBert.Deploy.Tests;

public sealed class DockerfileTests
{
    public static TheoryData<string> Dockerfiles => new(DeployFiles.Dockerfiles.Select(f => Path.GetFileName(f)));

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_CopyFrom_NamesAnEarlierStage(string name)
    {
        var dockerfile = Dockerfile.Load(Path.Combine(DeployFiles.Directory, name));
        var copies = dockerfile.Where("COPY").Where(c => c.Arguments.Contains("--from=", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(copies);
        foreach (var copy in copies)
        {
            var from = Regex.Match(copy.Arguments, @"--from=(\S+)").Groups[1].Value;
            var earlier = dockerfile.StageNames.Take(copy.Stage).ToList();
            Assert.True(earlier.Contains(from, StringComparer.OrdinalIgnoreCase),
                $"{name}:{copy.Line}: COPY --from={from}, but the stages before it are [{string.Join(", ", earlier)}]");
        }
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_StageNames_AreUnique(string name)
    {
        var stages = Dockerfile.Load(Path.Combine(DeployFiles.Directory, name)).StageNames.OfType<string>().ToList();
        Assert.Equal(stages.Count, stages.Distinct(StringComparer.OrdinalIgnoreCase).Count());
    }

    /// <summary>
    /// The restore layer sees only the project files copied before it: a project the CLI references that
    /// is missing there breaks the image build (restore fails on the missing reference).
    /// </summary>
    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_RestoreLayer_CopiesEveryProjectTheCliBuilds(string name)
    {
        var dockerfile = Dockerfile.Load(Path.Combine(DeployFiles.Directory, name));
        var restore = dockerfile.Where("RUN").First(r => r.Arguments.Contains("dotnet restore", StringComparison.Ordinal));
        var copiedBefore = dockerfile.Instructions
            .Where(i => i.Keyword == "COPY" && i.Stage == restore.Stage && i.Line < restore.Line)
            .SelectMany(i => i.Arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries).SkipLast(1))
            .ToHashSet(StringComparer.Ordinal);

        var projects = ProjectClosure(Path.Combine(DeployFiles.RepositoryRoot, "src", "Cli", "StreamBert.Cli.csproj"));
        Assert.Contains("src/Cli/StreamBert.Cli.csproj", projects);
        foreach (var project in projects)
        {
            Assert.True(copiedBefore.Contains(project), $"{name}: {project} is not copied before `dotnet restore` (line {restore.Line})");
        }

        foreach (var file in new[] { "global.json", "Directory.Build.props", "Directory.Packages.props" })
        {
            Assert.True(copiedBefore.Contains(file), $"{name}: {file} shapes the restore and must be copied before it");
        }
    }

    [Theory]
    [MemberData(nameof(Dockerfiles))]
    public void Dockerfile_FinalStage_RunsStreambertAsNonRootWithMetricsPort(string name)
    {
        var dockerfile = Dockerfile.Load(Path.Combine(DeployFiles.Directory, name));
        var final = dockerfile.StageNames.Count - 1;
        var inFinal = dockerfile.Instructions.Where(i => i.Stage == final).ToList();

        var entrypoint = Assert.Single(inFinal, i => i.Keyword == "ENTRYPOINT");
        Assert.Equal("[\"dotnet\", \"/app/streambert.dll\"]", entrypoint.Arguments);
        Assert.Contains(inFinal, i => i.Keyword == "COPY" && i.Arguments.StartsWith("--from=build /app", StringComparison.Ordinal));
        Assert.Contains(inFinal, i => i.Keyword == "EXPOSE" && i.Arguments.Split(' ').Contains("9464"));
        var user = inFinal.Last(i => i.Keyword == "USER").Arguments;
        Assert.NotEqual("root", user);
        Assert.NotEqual("0", user);
    }

    [Fact]
    public void DockerfileCuda_RestoreAndPublish_SelectTheGpuBuildOnCuda13WithCudnn9()
    {
        var dockerfile = Dockerfile.Load(Path.Combine(DeployFiles.Directory, "Dockerfile.cuda"));
        var dotnet = dockerfile.Where("RUN").Where(r => r.Arguments.Contains("dotnet restore", StringComparison.Ordinal) || r.Arguments.Contains("dotnet publish", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, dotnet.Count);
        Assert.All(dotnet, r => Assert.Contains("-p:StreamBertGpu=true", r.Arguments, StringComparison.Ordinal));

        var cudaImage = dockerfile.Where("ARG").Select(a => a.Arguments).Single(a => a.StartsWith("CUDA_IMAGE=", StringComparison.Ordinal));
        Assert.Matches(@"^CUDA_IMAGE=nvidia/cuda:13\.\d+\.\d+-cudnn-runtime-ubuntu", cudaImage);
        Assert.Equal("${CUDA_IMAGE}", dockerfile.BaseImages[^1]);
    }

    /// <summary>Project files (repository-relative, '/'-separated) that <paramref name="project"/> builds, itself included.</summary>
    private static SortedSet<string> ProjectClosure(string project)
    {
        var result = new SortedSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([Path.GetFullPath(project)]);
        while (pending.TryPop(out var path))
        {
            if (!result.Add(Path.GetRelativePath(DeployFiles.RepositoryRoot, path).Replace('\\', '/')))
            {
                continue;
            }

            foreach (var reference in XDocument.Load(path).Descendants("ProjectReference"))
            {
                var include = reference.Attribute("Include")!.Value.Replace('\\', '/');
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(path)!, include)));
            }
        }

        return result;
    }
}
