#include "microstudio/ui/ml_worker.hpp"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <QTimer>

#include <cstdio>

#include "microstudio/jobs/worker_protocol.hpp"

namespace ms::ui {

namespace {
constexpr int kErrorTailBytes = 2000;
}

MlWorker::MlWorker(QObject* parent, ThreadWaiting waiting) : QObject(parent), waiting_(waiting) {}

MlWorker::~MlWorker() {
    if (!process_) return;
    process_->disconnect(this);  // no handler runs while the studio closes
    process_->write(QByteArray::fromStdString(jobs::workerLine(jobs::shutdownMessage())));
    process_->closeWriteChannel();  // end of input: the running request is cancelled
    if (!process_->waitForFinished(2000)) {
        process_->kill();
        process_->waitForFinished(1000);
    }
}

QString MlWorker::executable() {
    const QString given = qEnvironmentVariable("MICROSTUDIO_ML_WORKER");
    if (!given.isEmpty()) return given;
    const QString beside = QDir(QCoreApplication::applicationDirPath()).filePath("microstudio-ml");
    if (QFileInfo(beside).isExecutable()) return beside;
    const QString onPath = QStandardPaths::findExecutable("microstudio-ml");
    return onPath.isEmpty() ? beside : onPath;
}

void MlWorker::askVersion(QObject* context, std::function<void(bool, const QString&)> answer) {
    auto* process = new QProcess(context);  // owned by context; deletes itself when done
    const auto finish = [process, answer](bool answered, const QString& line) {
        answer(answered, line);
        process->deleteLater();
    };
    connect(process, &QProcess::errorOccurred, context, [process, finish](QProcess::ProcessError error) {
        if (error != QProcess::FailedToStart) return;  // the others end in finished()
        finish(false, tr("%1 does not answer --version (%2)").arg(executable(), process->errorString()));
    });
    connect(process, &QProcess::finished, context, [process, finish](int code, QProcess::ExitStatus status) {
        if (status != QProcess::NormalExit || code != 0)
            return finish(false, tr("%1 does not answer --version (exit status %2)").arg(executable()).arg(code));
        finish(true, QString::fromUtf8(process->readAllStandardOutput()).trimmed());
    });
    process->start(executable(), {"--version"});
}

qint64 MlWorker::processId() const { return process_ ? process_->processId() : 0; }

void MlWorker::start() {
    process_ = std::make_unique<QProcess>();
    pending_.clear();
    errorTail_.clear();
    connect(process_.get(), &QProcess::readyReadStandardOutput, this, &MlWorker::readEvents);
    connect(process_.get(), &QProcess::readyReadStandardError, this, &MlWorker::readErrors);
    connect(process_.get(), &QProcess::finished, this, [this](int code, QProcess::ExitStatus status) {
        stopped(status == QProcess::CrashExit ? tr("it crashed or was killed")
                                              : tr("it exited with status %1").arg(code));
    });
    connect(process_.get(), &QProcess::errorOccurred, this, [this](QProcess::ProcessError error) {
        if (error == QProcess::FailedToStart)
            stopped(tr("%1 could not be started (%2)").arg(executable(), process_->errorString()));
    });
    // How torch's threads wait (ThreadWaiting): spinning ones took the cores
    // from the studio's UI thread during generation (docs/benchmarks.md: the
    // Design tab's generation tests 11 s / 30 s passive, 30 s / 80 s
    // spinning), while a training's small operations each pay a wake-up.
    QProcessEnvironment environment = QProcessEnvironment::systemEnvironment();
    if (!environment.contains("OMP_WAIT_POLICY") && !environment.contains("GOMP_SPINCOUNT")) {
        if (waiting_ == ThreadWaiting::Passive) environment.insert("OMP_WAIT_POLICY", "PASSIVE");
        else environment.insert("GOMP_SPINCOUNT", "100000");  // libgomp, Debian's torch runtime
    }
    process_->setProcessEnvironment(environment);
    process_->start(executable(), {"serve"});
}

std::int64_t MlWorker::send(Json request, Handler handler) {
    const std::int64_t id = nextId_++;
    request["id"] = id;
    handlers_[id] = std::move(handler);
    if (!process_) {
        // After send() has returned, as every event: the caller knows the id by then.
        QTimer::singleShot(
            0, this, [this, id] { deliver(jobs::progressEvent(id, 0.0, tr("starting the ML worker").toStdString())); });
        start();
        if (!process_) return id;  // could not start: the handler gets its error
    }
    process_->write(QByteArray::fromStdString(jobs::workerLine(request)));
    return id;
}

void MlWorker::cancel(std::int64_t id) { control(jobs::cancelMessage(id)); }

void MlWorker::control(const Json& message) {
    if (process_ && handlers_.count(jobs::messageId(message)))
        process_->write(QByteArray::fromStdString(jobs::workerLine(message)));
}

void MlWorker::readEvents() {
    pending_ += process_->readAllStandardOutput();
    for (int end = pending_.indexOf('\n'); end >= 0; end = pending_.indexOf('\n')) {
        const std::string line = pending_.left(end).toStdString();
        pending_.remove(0, end + 1);
        Json event;
        try {
            event = jobs::parseWorkerLine(line);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "microstudio: ML worker: %s\n", e.what());
            continue;
        }
        if (event["event"] == "ready" && event.value("protocol", 0) != jobs::kWorkerProtocolVersion) {
            process_->kill();  // finished() reports it to the waiting requests
            errorTail_ = tr("it speaks protocol %1, the studio %2")
                             .arg(event.value("protocol", 0))
                             .arg(jobs::kWorkerProtocolVersion)
                             .toUtf8();
            return;
        }
        deliver(event);
        if (!process_) return;  // a handler closed the studio's side
    }
}

void MlWorker::readErrors() {
    const QByteArray text = process_->readAllStandardError();
    std::fwrite(text.constData(), 1, std::size_t(text.size()), stderr);  // the worker's own messages stay visible
    errorTail_ = (errorTail_ + text).right(kErrorTailBytes);
}

void MlWorker::deliver(const Json& event) {
    const std::int64_t id = jobs::messageId(event);
    const auto it = handlers_.find(id);
    if (it == handlers_.end()) {
        if (id == 0 && event["event"] == "error")
            std::fprintf(stderr, "microstudio: ML worker: %s\n", event.value("message", std::string()).c_str());
        return;
    }
    const std::string kind = event["event"].get<std::string>();
    Handler handler = it->second;
    if (kind == "done" || kind == "error") handlers_.erase(it);
    handler(event);
}

void MlWorker::stopped(const QString& why) {
    QString message = tr("the ML worker stopped: %1").arg(why);
    const QString last = QString::fromUtf8(errorTail_).trimmed().split('\n').last().trimmed();
    if (!last.isEmpty()) message += tr(" (its last words: %1)").arg(last);
    message += tr("; what is on screen is kept, and the next request starts a new worker");
    // The QProcess may be inside its own signal: it goes once control returns,
    // and tells nothing more.
    process_->disconnect(this);
    process_.release()->deleteLater();
    auto waiting = std::move(handlers_);
    handlers_.clear();
    // Never inside send() (a worker that cannot start may say so at once).
    QTimer::singleShot(0, this, [waiting = std::move(waiting), message] {
        for (const auto& [id, handler] : waiting) handler(jobs::errorEvent(id, message.toStdString()));
    });
}

}  // namespace ms::ui
